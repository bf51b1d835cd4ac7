"""The ``service`` section: how ``syncd run`` behaves as a service (health address, logs,
shutdown, replicas)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BeforeValidator

from syncd.config_values import Duration, Strict, invalid


def _listen(value: object) -> str:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("off", "")):
        return "off"
    text = str(value).strip()
    match = re.fullmatch(r"(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.\-]+):(\d{1,5})", text)
    if match is None or not 0 < int(match.group(2)) < 65536:
        raise invalid("{value} is not an address to listen on",
                      "Write host:port, like 127.0.0.1:9108 (0.0.0.0:9108 in a container), "
                      "or off.")
    return text


Listen = Annotated[str, BeforeValidator(_listen)]


class ServiceConfig(Strict):
    #: /healthz, /readyz and /metrics (Prometheus); loopback unless you open it; "off"
    listen: Listen = "127.0.0.1:9108"
    #: auto: human-readable on a terminal, JSON lines otherwise (under systemd, in a container)
    log_format: Literal["auto", "text", "json"] = "auto"
    #: SIGTERM/SIGINT: how long the current page and the outbox get before the process exits
    shutdown_timeout: Duration = timedelta(seconds=20)
    #: replicas on PostgreSQL: how often a standby tries to become the leader
    standby_poll: Duration = timedelta(seconds=5)


__all__ = ["ServiceConfig"]
