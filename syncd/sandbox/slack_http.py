"""HTTP/1.1 transport of the Slack sandbox: routes, faults, authentication, scopes.

Routes: ``POST|GET /api/<method>`` (the Web API), ``POST /upload/v1/<key>`` (the upload URL
handed out by ``files.getUploadURLExternal``: answers ``OK - <bytes>`` in plain text, as
files.slack.com does) and ``POST /webhook/<token>`` (an incoming webhook: plain ``ok``, or a
plain-text error code with a 4xx status, as hooks.slack.com does).

Order for each request: "down" mode (503), injected fault, then for the Web API: unknown method
(404 ``unknown_method``), authentication (``not_authed``, ``invalid_auth``, or the sandbox's
``auth_error``), scope (``missing_scope`` with ``needed`` and ``provided``), then the method.
Web API errors are HTTP 200 with ``{"ok": false, "error": ...}``, as Slack's are.
"""

from __future__ import annotations

import logging
import time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import orjson

from syncd.sandbox.http_server import REASONS, Answer, Headers, TrackedServer
from syncd.sandbox.slack_faults import STATUS_ERRORS, SlackFault
from syncd.sandbox.slack_methods import METHODS, ApiError, Args, message_content
from syncd.sandbox.slack_workspace import SlackChannel

if TYPE_CHECKING:
    from syncd.sandbox.slack import SlackSandbox

log = logging.getLogger("syncd.sandbox.slack")
JSON = "application/json; charset=utf-8"
TEXT = "text/plain; charset=utf-8"


class SlackServer(TrackedServer):
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], sandbox: SlackSandbox) -> None:
        super().__init__(address, sandbox, SlackHandler)
        self.sandbox: SlackSandbox = sandbox


def _json_answer(status: int, payload: dict[str, Any], headers: Headers | None = None) -> Answer:
    return status, orjson.dumps(payload), headers or [], JSON


def _text_answer(status: int, text: str, headers: Headers | None = None) -> Answer:
    return status, text.encode(), headers or [], TEXT


class SlackHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 60
    server: SlackServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the sandbox keeps its own request log."""

    def do_POST(self) -> None:
        self._handle()

    do_GET = do_POST

    # ------------------------------------------------------------------ one request

    def _handle(self) -> None:
        started = time.perf_counter()
        sb = self.server.sandbox
        split = urlsplit(self.path)
        path = split.path
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        kind, _, rest = path.lstrip("/").partition("/")
        if kind == "api":
            name = rest
        elif kind == "upload":
            name = "upload"
        elif kind == "webhook":
            name, path = "webhook", "/webhook/…"  # the token stays out of the log
        else:
            name = path
        args: Args = {}
        answer: Answer | None
        fault: SlackFault | None = None
        if sb.down_mode is not None:
            answer = _json_answer(503, {"ok": False, "error": "service_unavailable"})
        else:
            fault = sb.faults.take(name)
            if fault is not None and fault.delay and fault.kind != "accept_hang":
                time.sleep(fault.delay)
            if fault is not None and fault.kind == "drop":
                answer = None
            elif fault is not None and fault.kind not in ("slow", "accept_drop", "accept_hang"):
                answer = self._fault_answer(fault)
            else:
                args, answer = self._route(sb, kind, rest, split.query, raw)
                if fault is not None and fault.kind == "accept_drop":
                    answer = None
                if fault is not None and fault.kind == "accept_hang":
                    time.sleep(fault.delay)  # processed and recorded; the answer waits
        # Logged before the answer goes out, so a test reading the log after its response
        # always finds the entry.
        sb._append_log(name, path, args, 0 if answer is None else answer[0],
                       time.perf_counter() - started, fault.kind if fault else None)
        if answer is None:
            self.close_connection = True
        else:
            self._send(*answer)

    def _fault_answer(self, fault: SlackFault) -> Answer:
        if fault.kind == "error":
            return _json_answer(200, {"ok": False, "error": fault.error})
        status = int(fault.kind)
        headers = [("Retry-After", str(fault.retry_after))] if status == 429 else []
        return _json_answer(status, {"ok": False, "error": STATUS_ERRORS[status]}, headers)

    def _route(
        self, sb: SlackSandbox, kind: str, rest: str, query: str, raw: bytes
    ) -> tuple[Args, Answer]:
        if kind == "upload" and self.command == "POST":
            return {"bytes": len(raw)}, self._upload(sb, rest.removeprefix("v1/"), raw)
        if kind == "webhook" and self.command == "POST":
            return self._webhook(sb, rest, raw)
        if kind != "api":
            return {}, _text_answer(404, "not found")
        args: Args = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        try:
            args.update(self._body_args(raw))
        except ApiError as exc:
            return args, _json_answer(200, exc.body())
        token = args.pop("token", None)
        auth = self.headers.get("Authorization") or ""
        if auth.startswith("Bearer "):
            token = auth[7:].strip()
        return args, self._api(sb, rest, args, token)

    def _body_args(self, raw: bytes) -> Args:
        if not raw:
            return {}
        content_type = (self.headers.get("Content-Type") or "").lower()
        if content_type.startswith("application/json"):
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise ApiError("invalid_json") from None
            if not isinstance(body, dict):
                raise ApiError("invalid_json")
            return body
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            raise ApiError("invalid_form_data") from None
        return {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}

    def _api(self, sb: SlackSandbox, name: str, args: Args, token: str | None) -> Answer:
        entry = METHODS.get(name)
        if entry is None:
            return _json_answer(404, {"ok": False, "error": "unknown_method", "req_method": name})
        method, scope = entry
        if not token:
            return _json_answer(200, {"ok": False, "error": "not_authed"})
        if token != sb.token:
            return _json_answer(200, {"ok": False, "error": "invalid_auth"})
        if sb.auth_error is not None:
            return _json_answer(200, {"ok": False, "error": sb.auth_error})
        if scope is not None and scope not in sb.scopes:
            return _json_answer(200, {"ok": False, "error": "missing_scope", "needed": scope,
                                      "provided": ",".join(sorted(sb.scopes))})
        try:
            with sb._lock:
                payload = method(sb, args)
        except ApiError as exc:
            return _json_answer(exc.status, exc.body(), exc.headers)
        except Exception:  # a sandbox bug: answer like Slack's backend, keep serving
            log.exception("sandbox error on %s", name)
            return _json_answer(500, {"ok": False, "error": "fatal_error"})
        return _json_answer(200, {"ok": True, **payload})

    def _upload(self, sb: SlackSandbox, key: str, raw: bytes) -> Answer:
        with sb._lock:
            if not sb._store_upload(key, raw):
                return _text_answer(404, "not found")
        return _text_answer(200, f"OK - {len(raw)}")

    def _webhook(self, sb: SlackSandbox, token: str, raw: bytes) -> tuple[Args, Answer]:
        if token != sb.webhook_token:
            return {}, _text_answer(403, "invalid_token")
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            return {}, _text_answer(400, "invalid_payload")
        try:
            with sb._lock:
                text, blocks = message_content(body)
                channel: SlackChannel = sb.webhook_channel
                sb._check_channel_rate(channel.id)
                ws = sb.workspace
                ws.add_message(channel.id, text, blocks, user=ws.bot_user_id, via="webhook")
        except ApiError as exc:
            status = 400 if exc.status == 200 else exc.status
            error = "rate_limited" if exc.status == 429 else exc.error
            return body, _text_answer(status, error, exc.headers)
        return body, _text_answer(200, "ok")

    def _send(self, status: int, payload: bytes, headers: Headers, content_type: str) -> None:
        lines = [
            f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(payload)}",
        ]
        lines.extend(f"{name}: {value}" for name, value in headers)
        if self.close_connection:
            lines.append("Connection: close")
        try:
            self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a read timeout)
            self.close_connection = True
