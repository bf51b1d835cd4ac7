"""deploy/Containerfile, read instruction by instruction (no image can be built on a test
machine): two stages on python:3.11-slim, a non-root final stage that only copies the venv,
no secret baked in, and a HEALTHCHECK whose command is run against syncd's real health
server."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from syncd.config_service import ServiceConfig
from tests.deploy.deploy_files import DEPLOY, ROOT, containerfile


def test_containerfile_is_a_small_multi_stage_non_root_image() -> None:
    image = containerfile()
    assert len(image.stages) >= 2
    assert all(re.fullmatch(r"python:3\.11-slim(-\w+)?", s.base) for s in image.stages)
    keys = [key for key, _ in image.final.instructions]
    # the final stage copies the venv built before; it installs nothing itself
    copies = [arg for key, arg in image.final.instructions if key == "COPY"]
    assert copies and all(c.startswith(f"--from={image.stages[0].name}") for c in copies)
    assert not any("pip" in arg for key, arg in image.final.instructions if key == "RUN")
    assert image.user_id >= 10000
    assert keys.index("USER") > max(i for i, k in enumerate(keys) if k in ("RUN", "COPY"))
    assert json.loads(image.last("ENTRYPOINT")) == ["syncd"]
    assert json.loads(image.last("CMD")) == ["run"]
    assert image.env["SYNCD_CONFIG"] == "/etc/syncd/syncd.yaml"
    assert image.last("EXPOSE") == str(ServiceConfig().listen.rsplit(":", 1)[1]) == "9108"
    assert json.loads(image.last("VOLUME")) == ["/var/lib/syncd"]
    assert image.env["PATH"].startswith("/opt/syncd/.venv/bin:")


def test_containerfile_bakes_no_secret_and_copies_only_the_sources() -> None:
    image = containerfile()
    for stage in image.stages:
        for key, arg in stage.instructions:
            if key in ("ENV", "ARG"):
                assert not re.search(r"TOKEN|PASSWORD|SECRET|DATABASE_URL", arg), arg
            if key == "COPY" and not arg.startswith("--from="):
                *sources, _dest = arg.split()
                for source in sources:
                    assert (ROOT / source).exists(), source
                    assert not re.search(r"secret|\.env|\.db|\.venv|yaml$", source), source
    ignore = (DEPLOY / "Containerfile.dockerignore").read_text(encoding="utf-8").splitlines()
    assert ignore[ignore.index("**") + 1:].count("!syncd/") == 1  # deny all, then allow


def healthcheck_argv() -> list[str]:
    arg = containerfile().last("HEALTHCHECK")
    options, _, command = arg.partition("CMD ")
    assert "--interval=" in options and "--timeout=" in options
    argv = json.loads(command)
    assert argv[0] == "python" and "/healthz" in argv[-1]
    return argv


@pytest.fixture
def health_server() -> Iterator[tuple[Any, Any]]:
    from syncd.daemon.health import HealthServer, HealthState

    now = [datetime(2026, 11, 23, 6, 30, tzinfo=UTC)]
    state = HealthState(clock=lambda: now[0])
    with HealthServer("127.0.0.1:0", state) as server:
        yield server, now


def test_healthcheck_command_answers_from_syncds_health_server(
        health_server: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    server, now = health_server
    argv = [sys.executable, *healthcheck_argv()[1:]]
    monkeypatch.setenv("SYNCD_HEALTHCHECK_URL", f"{server.url}/healthz")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # never used for the check
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    alive = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert alive.returncode == 0, alive.stderr
    now[0] += timedelta(minutes=10)  # the main loop stopped beating: /healthz answers 503
    stuck = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert stuck.returncode == 1, stuck.stderr
    assert "503" in stuck.stderr

