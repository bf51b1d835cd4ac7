"""deploy/systemd: the unit runs `syncd -c /etc/syncd/syncd.yaml run` sandboxed, its
environment file puts SQLite in the state directory, and `systemd-analyze verify` accepts it
(skipped only where systemd-analyze is not installed: an environment capability)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from syncd.config_service import ServiceConfig
from tests.deploy.deploy_files import UNIT, env_example, load_embedded, one, seconds, unit


def test_unit_runs_the_daemon_with_its_config_and_secrets() -> None:
    service = unit()["Service"]
    argv = shlex.split(one(service, "ExecStart"))
    assert argv[:3] == ["/opt/syncd/.venv/bin/syncd", "-c", "/etc/syncd/syncd.yaml"]
    assert argv[3:] == ["run"]  # the daemon, not --once
    # a real syncd command line: the same arguments reach `syncd run`'s help
    done = subprocess.run([sys.executable, "-m", "syncd", *argv[1:], "--help"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: syncd run") and "--once" in done.stdout
    assert one(service, "EnvironmentFile") == "/etc/syncd/syncd.env"
    assert one(service, "ExecReload") == "/bin/kill -HUP $MAINPID"
    assert one(service, "KillSignal") == "SIGTERM"
    assert one(service, "KillMode") == "mixed"
    assert seconds(one(service, "TimeoutStopSec")) > \
        ServiceConfig().shutdown_timeout.total_seconds()
    assert one(service, "Restart") == "on-failure"
    assert seconds(one(service, "RestartSec")) >= 5
    assert one(service, "RestartPreventExitStatus") == "2"  # a config error: no restart loop
    start_limit = unit()["Unit"]
    assert int(one(start_limit, "StartLimitBurst")) <= 10
    assert seconds(one(start_limit, "StartLimitIntervalSec")) >= 60
    assert one(unit()["Install"], "WantedBy") == "multi-user.target"


def test_unit_is_sandboxed() -> None:
    service = unit()["Service"]
    expected = {
        "DynamicUser": "yes", "StateDirectory": "syncd", "ProtectSystem": "strict",
        "ProtectHome": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes",
        "NoNewPrivileges": "yes", "CapabilityBoundingSet": "", "AmbientCapabilities": "",
        "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes", "ProtectControlGroups": "yes",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX", "LockPersonality": "yes",
        "MemoryDenyWriteExecute": "yes", "SystemCallFilter": "@system-service",
        "RestrictSUIDSGID": "yes", "RestrictNamespaces": "yes", "UMask": "0077",
    }
    assert {key: one(service, key) for key in expected} == expected
    assert one(service, "User") != "root"
    # the only writable places: the state and cache directories (matplotlib's cache there)
    assert "ReadWritePaths" not in service
    cache = one(service, "CacheDirectory")
    mpl = [v for v in service["Environment"] if v.startswith("MPLCONFIGDIR=")]
    assert mpl == [f"MPLCONFIGDIR=/var/cache/{cache}/matplotlib"]


def test_env_example_puts_sqlite_in_the_state_directory(tmp_path: Path) -> None:
    from syncd.config import starter_text

    env = env_example()
    assert set(env) == {"HUBSPOT_ACCESS_TOKEN", "SLACK_BOT_TOKEN", "SYNCD_DATABASE_URL"}
    assert not any(name.endswith("_FILE") for name in env)  # never NAME and NAME_FILE both
    # `syncd init`'s file in /etc/syncd, with the example's environment
    config = load_embedded(starter_text(), tmp_path, env)
    state = one(unit()["Service"], "StateDirectory")
    assert config.database.url.get_secret_value() == f"sqlite:////var/lib/{state}/syncd.db"


def verify_output(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``systemd-analyze verify`` on the unit, its ExecStart pointed at this venv's syncd
    (verify insists that the binary exists; /opt/syncd is not installed here)."""
    installed = Path(sys.executable).with_name("syncd")
    assert installed.exists(), installed
    text = UNIT.read_text(encoding="utf-8").replace("/opt/syncd/.venv/bin/syncd",
                                                    str(installed))
    copy = tmp_path / "syncd.service"
    copy.write_text(text, encoding="utf-8")
    return subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True,
                          text=True, timeout=60, check=False)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed (environment capability)")
def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    done = verify_output(tmp_path)
    assert done.returncode == 0, done.stderr
    # an unknown or misspelt key is only a warning: any output at all fails
    assert done.stdout.strip() == "" and done.stderr.strip() == "", done.stderr


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed (environment capability)")
def test_systemd_analyze_rates_the_sandbox_low_exposure() -> None:
    done = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(UNIT)],
                          capture_output=True, text=True, timeout=60, check=False)
    if "--offline" in done.stderr and "unrecognized" in done.stderr:
        pytest.skip("this systemd-analyze has no --offline (systemd < 250)")
    match = re.search(r"Overall exposure level for syncd\.service: (\d+\.\d+)", done.stdout)
    assert match, done.stdout + done.stderr
    assert float(match.group(1)) <= 2.0  # "OK" on systemd's 0 (safe) - 10 (unsafe) scale
