"""The files of deploy/, parsed for the tests next to this one: YAML documents, the
Kubernetes objects by kind, the compose file, the Containerfile's stages and instructions,
the systemd unit's settings, and the durations and quantities they are written in."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from syncd.config import Config, load_config

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "kubernetes"
UNIT = DEPLOY / "systemd" / "syncd.service"
CONTAINERFILE = DEPLOY / "Containerfile"


def yaml_docs(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def manifests() -> dict[str, dict[str, Any]]:
    """The Kubernetes objects by kind (one of each)."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml_docs(path):
            assert doc["kind"] not in found, f"{path.name}: a second {doc['kind']}"
            found[doc["kind"]] = doc
    return found


def pod_spec() -> dict[str, Any]:
    return manifests()["Deployment"]["spec"]["template"]["spec"]


def container() -> dict[str, Any]:
    (only,) = pod_spec()["containers"]
    return only


def env_refs(text: str) -> set[str]:
    """The NAMEs of the ``${NAME}`` references in a syncd.yaml (``$${`` is a literal)."""
    text = "\n".join(line.split("#", 1)[0] for line in text.splitlines())  # not comments
    return set(re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}", text))


def listen_port(config: Config) -> int:
    return int(config.service.listen.rsplit(":", 1)[1])


def seconds(text: str) -> float:
    """A systemd / compose duration (``30s``, ``1min``, ``10min``, ``1m30s``) in seconds."""
    units = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", text.strip())
    assert parts, text
    return sum(float(n) * units[u or "s"] for n, u in parts)


def mebibytes(quantity: str) -> float:
    match = re.fullmatch(r"(\d+)(Mi|Gi)", quantity)
    assert match, f"{quantity}: write Mi or Gi"
    return int(match.group(1)) * (1024 if match.group(2) == "Gi" else 1)


def millicores(quantity: str) -> float:
    return float(quantity[:-1]) if quantity.endswith("m") else float(quantity) * 1000


def load_embedded(text: str, tmp_path: Path, environ: dict[str, str]) -> Config:
    path = tmp_path / "syncd.yaml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, environ=environ)


def pod_env() -> dict[str, str]:
    secret = manifests()["Secret"]
    env: dict[str, str] = {}
    for var in container()["env"]:
        if "value" in var:
            env[var["name"]] = var["value"]
        else:
            ref = var["valueFrom"]["secretKeyRef"]
            assert ref["name"] == secret["metadata"]["name"], var
            env[var["name"]] = secret["stringData"][ref["key"]]
    return env


def compose() -> dict[str, Any]:
    return yaml_docs(DEPLOY / "compose.yaml")[0]


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]]


@dataclass
class Image:
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def last(self, keyword: str) -> str:
        values = [arg for key, arg in self.final.instructions if key == keyword]
        assert values, f"the final stage has no {keyword}"
        return values[-1]

    @property
    def env(self) -> dict[str, str]:
        env: dict[str, str] = {}
        for key, arg in self.final.instructions:
            if key == "ENV":
                for pair in shlex.split(arg):
                    name, _, value = pair.partition("=")
                    env[name] = value
        return env

    @property
    def user_id(self) -> int:
        user = self.last("USER").split(":")[0]
        assert user.isdigit(), "USER must be numeric so that runAsNonRoot can check it"
        return int(user)


def containerfile() -> Image:
    text = CONTAINERFILE.read_text(encoding="utf-8")
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "a line continuation runs off the end of the file"
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, arg = line.partition(" ")
        keyword, arg = keyword.upper(), arg.strip()
        if keyword == "ARG" and not stages:
            name, _, default = arg.partition("=")
            args[name] = default
        elif keyword == "FROM":
            words = arg.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base, name, []))
        else:
            assert stages, f"{keyword} before FROM"
            stages[-1].instructions.append((keyword, arg))
    return Image(stages)


def unit() -> dict[str, dict[str, list[str]]]:
    """The unit's sections -> key -> every value (keys like SystemCallFilter repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in UNIT.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        assert not line.endswith("\\"), "keep one setting a line"
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        assert current is not None, line
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def one(section: dict[str, list[str]], key: str) -> str:
    values = section[key]
    assert len(values) == 1, f"{key} is set {len(values)} times"
    return values[0]


def env_example() -> dict[str, str]:
    lines = (DEPLOY / "systemd" / "syncd.env.example").read_text(encoding="utf-8")
    pairs = [line.split("=", 1) for line in lines.splitlines()
             if line.strip() and not line.startswith("#")]
    return {name: value for name, value in pairs}

