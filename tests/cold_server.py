"""A serverless GPU endpoint in miniature: a proxy on 127.0.0.1 that starts "cold" in front of a real server.

The first request to a cold endpoint starts a container that is ready ``cold_s`` later;
every request waits for it (as Modal holds requests during a cold start), then goes to
the upstream OpenAI-compatible server (the test session's llama.cpp server) and its
answer streams back unchanged.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx


class ColdServer:
    """``with ColdServer(upstream, cold_s=3) as server:``; ``server.url`` is the base URL, ``starts`` counts starts."""

    def __init__(self, upstream: str, *, cold_s: float) -> None:
        self.upstream = upstream.rstrip("/")
        self.cold_s = cold_s
        self.starts = 0
        self.requests: list[str] = []
        self._ready: threading.Event | None = None
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        """Base URL for ``PODIUM_MODAL_URL``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def container(self) -> threading.Event:
        """The event set when a container is up, starting one if none is."""
        with self._lock:
            if self._ready is None:
                self.starts += 1
                self._ready = ready = threading.Event()
                threading.Timer(self.cold_s, ready.set).start()
            return self._ready

    def scale_down(self) -> None:
        """The container goes away (Modal's scaledown window passed): the next request is cold again."""
        with self._lock:
            self._ready = None

    def __enter__(self) -> ColdServer:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()


def _handler(server: ColdServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self._forward("GET", b"")

        def do_POST(self) -> None:  # noqa: N802
            self._forward("POST", self.rfile.read(int(self.headers.get("content-length") or 0)))

        def _forward(self, method: str, body: bytes) -> None:
            server.requests.append(f"{method} {self.path} {time.monotonic():.3f}")
            ready = server.container()
            while not ready.wait(0.05):
                if server._closing.is_set():
                    return
            url = server.upstream + self.path.removeprefix("/v1")
            try:
                with httpx.stream(method, url, content=body, timeout=120,
                                  headers={"content-type": self.headers.get("content-type", "application/json")}
                                  ) as upstream:
                    self.send_response(upstream.status_code)
                    self.send_header("Content-Type", upstream.headers.get("content-type", "application/json"))
                    self.end_headers()
                    for part in upstream.iter_raw():
                        self.wfile.write(part)
                        self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (its deadline): fine
                pass

    return Handler
