"""What the sandboxes' HTTP servers share: a threaded server on loopback that knows its open
connections (so a sandbox can drop them all, as a dying upstream would), and the shape of an
answer."""

from __future__ import annotations

import contextlib
import socket
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

REASONS = {s.value: s.phrase for s in HTTPStatus}
Headers = list[tuple[str, str]]
Answer = tuple[int, bytes, Headers, str]  # status, body, headers, content type


class TrackedServer(ThreadingHTTPServer):
    """A threaded HTTP server serving ``sandbox`` with ``handler``, tracking its connections."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], sandbox: Any,
                 handler: type[BaseHTTPRequestHandler]) -> None:
        self.sandbox = sandbox
        self.connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self._conn_lock:
            self.connections.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._conn_lock:
                self.connections.discard(request)

    def close_connections(self) -> None:
        """Shut every open connection down (the clients see them drop)."""
        with self._conn_lock:
            conns = list(self.connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def serve_in_background(self, name: str) -> threading.Thread:
        """Serve from a daemon thread (``name`` shows in thread dumps); started."""
        thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                  name=name, daemon=True)
        thread.start()
        return thread

    def stop_serving(self, thread: threading.Thread | None) -> None:
        """Stop serving, drop the open connections, close the socket, join ``thread``."""
        self.shutdown()
        self.close_connections()
        self.server_close()
        if thread is not None:
            thread.join(timeout=5)
