"""deploy/: every YAML file, the Kubernetes manifests and the compose file, checked against
each other and against syncd's own contract.

No cluster and no Docker daemon here: the files are parsed and the fields that matter are
checked, and the configs they ship are loaded with :func:`syncd.config.load_config` with the
environment they would get, so a renamed key or a changed rule fails here. The image is in
test_containerfile.py, the unit in test_systemd.py.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from syncd.config import Config, load_config
from syncd.errors import ConfigError
from tests.deploy.deploy_files import (
    CONTAINERFILE,
    DEPLOY,
    K8S,
    compose,
    container,
    containerfile,
    env_refs,
    listen_port,
    load_embedded,
    manifests,
    mebibytes,
    millicores,
    pod_env,
    pod_spec,
    seconds,
    yaml_docs,
)

# ----------------------------------------------------------------------------- every file


def test_every_yaml_file_parses_and_kustomization_lists_every_manifest() -> None:
    files = sorted(DEPLOY.rglob("*.yaml"))
    assert {p.relative_to(DEPLOY).as_posix() for p in files} >= {
        "compose.yaml", "compose/syncd.yaml", "kubernetes/configmap.yaml",
        "kubernetes/deployment.yaml", "kubernetes/secret.yaml", "kubernetes/kustomization.yaml",
    }
    for path in files:
        assert yaml_docs(path), f"{path} is empty"
    kustomization = yaml_docs(K8S / "kustomization.yaml")[0]
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk
    assert kustomization["namespace"] == manifests()["Namespace"]["metadata"]["name"]
    assert {image["name"] for image in kustomization["images"]} == {container()["image"]
                                                                    .split(":")[0]}


@pytest.mark.skipif(shutil.which("kubectl") is None,
                    reason="kubectl is not installed (environment capability)")
def test_kustomize_renders_the_manifests() -> None:
    done = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    kinds = {doc["kind"] for doc in yaml.safe_load_all(done.stdout) if doc}
    assert kinds == {"Namespace", "ConfigMap", "Secret", "Deployment", "PodDisruptionBudget"}


# ----------------------------------------------------------------------------- Kubernetes


@pytest.fixture
def k8s_config(tmp_path: Path) -> Config:
    """The ConfigMap's syncd.yaml, loaded with the environment the pod gets: the Secret's
    (placeholder) values under the names the Deployment gives them."""
    return load_embedded(manifests()["ConfigMap"]["data"]["syncd.yaml"], tmp_path, pod_env())


def test_configmap_is_a_valid_syncd_config_for_replicas(k8s_config: Config,
                                                        tmp_path: Path) -> None:
    text = manifests()["ConfigMap"]["data"]["syncd.yaml"]
    # every ${NAME} it needs is set by the Deployment
    assert env_refs(text) <= set(pod_env())
    # two replicas elect a leader on PostgreSQL; SQLite cannot be shared
    assert k8s_config.database.url.get_secret_value().startswith("postgresql+psycopg://")
    assert k8s_config.service.log_format == "json"
    assert k8s_config.service.listen.startswith("0.0.0.0:")
    assert k8s_config.crm.provider == "hubspot" and k8s_config.slack is not None
    assert k8s_config.okrs and k8s_config.alerts.rules
    # without the database URL the pod fails with a clear line, never falls back to SQLite
    env = {k: v for k, v in pod_env().items() if k != "SYNCD_DATABASE_URL"}
    with pytest.raises(ConfigError, match="SYNCD_DATABASE_URL"):
        load_embedded(text, tmp_path, env)


def test_deployment_runs_two_replicas_rolling_with_a_disruption_budget() -> None:
    objs = manifests()
    deployment, pdb = objs["Deployment"], objs["PodDisruptionBudget"]
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"]["type"] == "RollingUpdate"
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert 1 <= pdb["spec"]["minAvailable"] < spec["replicas"]
    assert container()["args"] == ["run"]
    config_env = {v["name"]: v.get("value") for v in container()["env"]}
    mounts = {m["name"]: m for m in container()["volumeMounts"]}
    volumes = {v["name"]: v for v in pod_spec()["volumes"]}
    config_mount = next(m for m in mounts.values()
                        if "configMap" in volumes[m["name"]])
    assert volumes[config_mount["name"]]["configMap"]["name"] == \
        objs["ConfigMap"]["metadata"]["name"]
    assert config_mount["readOnly"] is True
    assert "subPath" not in config_mount  # an edited ConfigMap reaches the mounted file
    assert config_env["SYNCD_CONFIG"] == f"{config_mount['mountPath']}/syncd.yaml"


def test_probes_and_scrape_annotations_use_the_port_syncd_listens_on(
        k8s_config: Config) -> None:
    port = listen_port(k8s_config)
    (declared,) = container()["ports"]
    assert declared["containerPort"] == port
    probes = {name: container()[name]["httpGet"]
              for name in ("startupProbe", "livenessProbe", "readinessProbe")}
    assert probes["livenessProbe"]["path"] == "/healthz"
    assert probes["startupProbe"]["path"] == "/healthz"
    assert probes["readinessProbe"]["path"] == "/readyz"
    for probe in probes.values():
        assert probe["port"] in (declared["name"], port)
    startup = container()["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 120  # migrations first
    annotations = manifests()["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == port
    assert annotations["prometheus.io/path"] == "/metrics"


def test_pod_meets_the_restricted_pod_security_standard() -> None:
    spec, ctr = pod_spec(), container()
    assert manifests()["Namespace"]["metadata"]["labels"][
        "pod-security.kubernetes.io/enforce"] == "restricted"
    pod_sc, ctr_sc = spec["securityContext"], ctr["securityContext"]
    assert pod_sc["runAsNonRoot"] is True and ctr_sc["runAsNonRoot"] is True
    assert pod_sc["runAsUser"] == containerfile().user_id != 0
    assert pod_sc["seccompProfile"]["type"] == "RuntimeDefault"
    assert ctr_sc["allowPrivilegeEscalation"] is False
    assert ctr_sc["readOnlyRootFilesystem"] is True
    assert ctr_sc["capabilities"]["drop"] == ["ALL"]
    assert "add" not in ctr_sc["capabilities"]
    for forbidden in ("hostNetwork", "hostPID", "hostIPC"):
        assert not spec.get(forbidden)
    assert spec["automountServiceAccountToken"] is False
    # a read-only root: /tmp (and matplotlib's cache under it) is an emptyDir
    volumes = {v["name"]: v for v in spec["volumes"]}
    writable = [m["mountPath"] for m in ctr["volumeMounts"]
                if "emptyDir" in volumes[m["name"]]]
    assert "/tmp" in writable
    mpl = containerfile().env["MPLCONFIGDIR"]
    assert any(mpl == path or mpl.startswith(path + "/") for path in writable), mpl


def test_resources_fit_the_idle_target_and_shutdown_fits_the_grace_period(
        k8s_config: Config) -> None:
    resources = container()["resources"]
    requests, limits = resources["requests"], resources["limits"]
    assert millicores(requests["cpu"]) <= millicores(limits["cpu"])
    assert mebibytes(requests["memory"]) <= mebibytes(limits["memory"])
    assert mebibytes(limits["memory"]) >= 150 * 1.0e6 / 2**20  # above the idle RSS target
    grace = pod_spec()["terminationGracePeriodSeconds"]
    assert grace > k8s_config.service.shutdown_timeout.total_seconds()


def test_secret_is_an_example_with_every_key_the_deployment_reads() -> None:
    secret = manifests()["Secret"]
    assert "data" not in secret  # stringData only: readable placeholders, nothing encoded
    values = secret["stringData"]
    assert set(values) == {"HUBSPOT_ACCESS_TOKEN", "SLACK_BOT_TOKEN", "SYNCD_DATABASE_URL"}
    assert all("replace-me" in value for value in values.values())
    refs = {v["valueFrom"]["secretKeyRef"]["key"] for v in container()["env"]
            if "valueFrom" in v}
    assert refs == set(values)


# ----------------------------------------------------------------------------- compose

def test_compose_runs_syncd_after_a_healthy_postgres() -> None:
    services = compose()["services"]
    pg, app = services["postgres"], services["syncd"]
    assert pg["image"].split(":")[1].startswith("16")
    assert "pg_isready" in " ".join(pg["healthcheck"]["test"])
    assert app["depends_on"]["postgres"]["condition"] == "service_healthy"
    # PostgreSQL's data in a named volume
    (data,) = pg["volumes"]
    volume, target = data.split(":")[:2]
    assert target == "/var/lib/postgresql/data" and volume in compose()["volumes"]
    # the image is built from the Containerfile, the context being the repository root
    build = app["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == CONTAINERFILE
    assert app["read_only"] is True and "/tmp" in app["tmpfs"]
    assert app["cap_drop"] == ["ALL"]


def test_compose_config_is_valid_with_its_docker_secrets(tmp_path: Path) -> None:
    app = compose()["services"]["syncd"]
    top = compose()["secrets"]
    env = dict(app["environment"])
    # the config, read-only, where SYNCD_CONFIG says
    mounts = {m.split(":")[1]: m.split(":") for m in app["volumes"]}
    source, _target, mode = mounts[env["SYNCD_CONFIG"]]
    assert mode == "ro"
    config_file = (DEPLOY / source).resolve()
    # secrets only as NAME_FILE -> /run/secrets/<secret>; never a value in the file
    files: dict[str, str] = {}
    for name, value in env.items():
        if re.search(r"TOKEN|PASSWORD|SECRET|DATABASE_URL", name):
            assert name.endswith("_FILE"), f"{name}: pass secrets as files (Docker secrets)"
            secret = value.removeprefix("/run/secrets/")
            assert secret in app["secrets"] and secret in top, name
            files[name] = secret
    assert set(compose()["services"]["postgres"]["secrets"]) <= set(top)
    pg_env = compose()["services"]["postgres"]["environment"]
    assert pg_env["POSTGRES_PASSWORD_FILE"] == env["POSTGRES_PASSWORD_FILE"]  # one password
    # load it the way the container does: NAME unset, NAME_FILE a file holding the value
    environ = {}
    for name, secret in files.items():
        path = tmp_path / secret
        path.write_text("0123456789abcdef\n", encoding="utf-8")
        environ[name] = str(path)
    text = config_file.read_text(encoding="utf-8")
    assert {f"{n}_FILE" for n in env_refs(text)} <= set(environ)
    config = load_config(config_file, environ=environ)
    url = config.database.url.get_secret_value()
    user = pg_env["POSTGRES_USER"]
    assert url == (f"postgresql+psycopg://{user}:0123456789abcdef@postgres:5432/"
                   f"{pg_env['POSTGRES_DB']}")
    # /healthz etc. published on the host's loopback only, on the port syncd listens on
    (published,) = app["ports"]
    host, _host_port, ctr_port = published.split(":")
    assert host == "127.0.0.1" and int(ctr_port) == listen_port(config)
    assert config.service.listen.startswith("0.0.0.0:")
    assert seconds(app["stop_grace_period"]) > config.service.shutdown_timeout.total_seconds()
    # the secrets' directory keeps tokens out of git
    ignore = (DEPLOY / "compose" / "secrets" / ".gitignore").read_text(encoding="utf-8")
    assert "*" in ignore.splitlines()

