"""HTTP/1.1 transport of the HubSpot sandbox: keep-alive, faults, auth, rate limits, scopes.

Order for each request: injected fault (as a proxy would fail), route, authentication (401),
rate limits (429; a 429 does not count), scopes (403), then the endpoint. Every non-search
answer after authentication carries HubSpot's ``X-HubSpot-RateLimit-*`` headers. Responses go
out in one write (status line, headers and body), with Nagle off, so urllib3's pooled
keep-alive connections see no delayed-ACK stalls.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import orjson

from syncd.sandbox import hubspot_faults as faults
from syncd.sandbox.http_server import REASONS, Answer, Headers, TrackedServer
from syncd.sandbox.hubspot_routes import SCOPES, BadRequest, resolve

if TYPE_CHECKING:
    from syncd.sandbox.hubspot import HubSpotSandbox

log = logging.getLogger("syncd.sandbox.hubspot")
JSON = "application/json;charset=utf-8"
HTML = "text/html; charset=utf-8"


class SandboxServer(TrackedServer):
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], sandbox: HubSpotSandbox) -> None:
        super().__init__(address, sandbox, Handler)
        self.sandbox: HubSpotSandbox = sandbox


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 120  # an idle keep-alive connection is closed after this
    server: SandboxServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the sandbox keeps its own request log."""

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    do_PUT = do_PATCH = do_DELETE = do_POST

    # ------------------------------------------------------------------ one request

    def _handle(self) -> None:
        started = time.perf_counter()
        sb = self.server.sandbox
        split = urlsplit(self.path)
        path, query = split.path, parse_qs(split.query, keep_blank_values=True)
        method = self.command
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body: Any = None
        bad_json = False
        if raw:
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                bad_json = True
        fault = sb.faults.take(method, path)
        kind = fault.kind if fault is not None else None
        if fault is not None and kind == "slow":
            time.sleep(fault.delay)
        answer: Answer | None
        if fault is not None and kind == "drop":
            answer = None
        elif fault is not None and kind not in ("slow", "drop_after"):
            answer = self._fault_answer(fault, path)
        else:
            status, payload, headers = self._process(sb, method, path, query, body, bad_json)
            answer = (status, orjson.dumps(payload), headers, JSON)
            if kind == "drop_after":
                answer = None
        # Logged before the answer goes out, so a test reading the log after its response
        # always finds the entry.
        sb._append_log(method, path, query, body, 0 if answer is None else answer[0],
                       time.perf_counter() - started, kind)
        if answer is None:
            self.close_connection = True
        else:
            self._send(*answer)

    def _process(
        self, sb: HubSpotSandbox, method: str, path: str, query: dict[str, list[str]],
        body: Any, bad_json: bool,
    ) -> tuple[int, Any, Headers]:
        route = resolve(method, path)
        token = sb.token
        auth = self.headers.get("Authorization")
        if auth is None or not auth.startswith("Bearer "):
            return 401, faults.error(faults.AUTH_MISSING, "INVALID_AUTHENTICATION"), []
        if auth[7:] != token:
            return 401, faults.expired_token(), []
        search = route is not None and route.search
        limited = sb._limits.check(token, search)
        if limited is not None:
            return limited
        headers = [] if search else sb._limits.headers(token)
        if route is None:
            return 404, faults.error("resource not found"), headers
        if sb.scopes is not None:
            for scope in route.scopes:
                if scope not in sb.scopes:
                    return 403, faults.missing_scope(scope), headers
        if bad_json:
            return 400, faults.error("Invalid input JSON: the body is not valid JSON",
                                     "VALIDATION_ERROR"), headers
        try:
            with sb._lock:
                status, payload = route.run(sb, query, body)
        except BadRequest as exc:
            return exc.status, exc.payload, headers
        except Exception:  # a sandbox bug: answer like HubSpot's backend, keep serving
            log.exception("sandbox error on %s %s", method, path)
            return 500, faults.error("internal error"), headers
        return status, payload, headers

    def _fault_answer(self, fault: faults.Fault, path: str) -> Answer:
        kind = fault.kind
        if kind == "429":
            headers: Headers = []
            if fault.retry_after is not None:
                headers.append(("Retry-After", f"{fault.retry_after:g}"))
            return 429, orjson.dumps(faults.rate_limited(fault.policy)), headers, JSON
        if kind in ("502", "504"):
            status = int(kind)
            return status, faults.html_error(status, REASONS[status]), [], HTML
        if kind in ("500", "503"):
            message = "internal error" if kind == "500" else "Service Unavailable"
            return int(kind), orjson.dumps(faults.error(message)), [], JSON
        if kind == "401":
            return 401, orjson.dumps(faults.expired_token()), [], JSON
        if kind == "403":
            route = resolve(self.command, path)
            scope = route.scopes[0] if route is not None and route.scopes else SCOPES["deals"]
            return 403, orjson.dumps(faults.missing_scope(scope)), [], JSON
        return 200, faults.HTML_PAGE, [], HTML  # not_json

    def _send(
        self, status: int, payload: bytes, headers: Headers, content_type: str = JSON
    ) -> None:
        lines = [
            f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(payload)}",
        ]
        lines.extend(f"{name}: {value}" for name, value in headers)
        if self.close_connection:
            lines.append("Connection: close")
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload)


class Limits:
    """The per-token rolling windows, the daily budget, and the headers that report them."""

    def __init__(
        self,
        *,
        burst: tuple[int, float] | None,
        search: tuple[int, float] | None,
        daily: int,
        retry_after_header: bool,
    ) -> None:
        self.burst = burst
        self.search = search
        self.daily = daily
        self.retry_after_header = retry_after_header
        self.used_today = 0
        self._windows: dict[tuple[str, str], faults.RollingWindow] = {}
        self._lock = threading.Lock()

    def _window(self, token: str, kind: str) -> faults.RollingWindow | None:
        spec = {"burst": self.burst, "search": self.search}[kind]
        if spec is None:
            return None
        window = self._windows.get((token, kind))
        if window is None:
            window = self._windows[(token, kind)] = faults.RollingWindow(int(spec[0]), spec[1])
        return window

    def check(self, token: str, search: bool) -> tuple[int, Any, Headers] | None:
        """None when the request may proceed (it is then counted), else the 429 to send."""
        with self._lock:
            if self.used_today >= self.daily:
                headers = [] if search else self._headers(token)
                return 429, faults.rate_limited("DAILY"), headers
            if search:
                window = self._window(token, "search")
                if window is not None and not window.acquire():
                    return 429, faults.rate_limited("SECONDLY"), []
            else:
                window = self._window(token, "burst")
                if window is not None and not window.acquire():
                    headers = self._headers(token)
                    if self.retry_after_header:
                        headers.append(("Retry-After", str(window.retry_after())))
                    return 429, faults.rate_limited("TEN_SECONDLY_ROLLING"), headers
            self.used_today += 1
        return None

    def headers(self, token: str) -> Headers:
        with self._lock:
            return self._headers(token)

    def _headers(self, token: str) -> Headers:
        daily = [
            ("X-HubSpot-RateLimit-Daily", str(self.daily)),
            ("X-HubSpot-RateLimit-Daily-Remaining", str(max(0, self.daily - self.used_today))),
        ]
        window = self._window(token, "burst")
        if window is None:  # no burst limit configured: nothing to report (or to obey)
            return daily
        return [
            *daily,
            ("X-HubSpot-RateLimit-Interval-Milliseconds", str(int(window.seconds * 1000))),
            ("X-HubSpot-RateLimit-Max", str(window.limit)),
            ("X-HubSpot-RateLimit-Remaining", str(window.remaining())),
        ]


def utc_now() -> datetime:
    return datetime.now(UTC)
