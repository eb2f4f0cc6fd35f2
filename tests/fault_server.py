"""A small OpenAI-compatible server on 127.0.0.1 that injects faults on demand.

Each request to ``/v1/chat/completions`` takes the next fault from a queue (then
the default): ``ok`` (a streamed answer with usage when asked for), ``429``
(with ``Retry-After``), ``500``/``503``, ``401``, ``400``, ``slow`` (answers only
after ``slow_s``), ``drop`` (closes the connection without a response),
``drop-mid`` (closes it in the middle of a stream), ``cut`` (ends a stream with ``[DONE]`` after two
words and no finish reason, as llama-cpp-python's server ends a running answer when another request
arrives), ``malformed`` (a stream whose events are not JSON) and ``trickle`` (one word every
``trickle_s``).
Every request is logged with its arrival time.

Run it by hand to try a fallback chain: ``python tests/fault_server.py --fault 500``.
"""

from __future__ import annotations

import argparse
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

REPLY = "Hello from the fault server."


@dataclass
class Seen:
    """One request the server received."""

    t: float
    fault: str
    body: dict[str, Any] = field(default_factory=dict)


class FaultServer:
    """Start with ``with FaultServer(["429", "ok"]) as server:``; ``server.url`` is the base URL."""

    def __init__(self, faults: list[str] | None = None, *, default: str = "ok", retry_after: str = "1",
                 slow_s: float = 5.0, reply: str = REPLY, port: int = 0, trickle_s: float = 0.5) -> None:
        self.faults = list(faults or [])
        self.default = default
        self.retry_after = retry_after
        self.slow_s = slow_s
        self.trickle_s = trickle_s
        self.reply = reply
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Base URL for ``OPENAI_BASE_URL``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def next_fault(self, body: dict[str, Any]) -> str:
        """Pop the fault for a request and log it."""
        with self._lock:
            fault = self.faults.pop(0) if self.faults else self.default
            self.seen.append(Seen(time.monotonic(), fault, body))
            return fault

    def set(self, *faults: str, default: str | None = None) -> None:
        """Queue faults for the next requests (and change the default)."""
        with self._lock:
            self.faults = list(faults)
            if default is not None:
                self.default = default

    def __enter__(self) -> FaultServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving; slow requests in flight end at once."""
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()


def _handler(server: FaultServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self._json(200, {"object": "list", "data": [{"id": "fault-model", "object": "model"}]})

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            fault = server.next_fault(body)
            try:
                self._serve(body, fault)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up first: that is its right
                pass

        def _serve(self, body: dict[str, Any], fault: str) -> None:
            if fault == "429":
                self._json(429, {"error": {"message": "rate limited", "type": "rate_limit"}},
                           {"Retry-After": server.retry_after})
            elif fault in ("500", "503"):
                self._json(int(fault), {"error": {"message": "the server broke", "type": "server_error"}})
            elif fault == "401":
                self._json(401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error",
                                           "code": "invalid_api_key"}})
            elif fault == "400":
                self._json(400, {"error": {"message": "bad request: unknown parameter",
                                           "type": "invalid_request_error"}})
            elif fault == "drop":
                self.connection.shutdown(socket.SHUT_RDWR)
            elif fault == "slow":
                server._closing.wait(server.slow_s)
                self._answer(body, fault)
            else:
                self._answer(body, fault)

        def _json(self, status: int, data: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            raw = json.dumps(data).encode()
            self.send_response(status)
            for key, value in {"Content-Type": "application/json", "Content-Length": str(len(raw)),
                               **(headers or {})}.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(raw)

        def _answer(self, body: dict[str, Any], fault: str) -> None:
            words = server.reply.split(" ")
            prompt = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
            usage = {"prompt_tokens": prompt, "completion_tokens": len(words), "total_tokens": prompt + len(words)}
            if not body.get("stream"):
                self._json(200, {"id": "c1", "object": "chat.completion", "model": body.get("model"), "usage": usage,
                                 "choices": [{"index": 0, "finish_reason": "stop",
                                              "message": {"role": "assistant", "content": server.reply}}]})
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for i, word in enumerate(words):
                if fault == "malformed":
                    self._event("{this is not json")
                    break
                if fault == "trickle" and i > 0 and server._closing.wait(server.trickle_s):
                    return
                if fault == "drop-mid" and i == 2:
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if fault == "cut" and i == 2:
                    self._event("[DONE]")
                    return
                delta = {"content": word if i == 0 else " " + word}
                self._event(_chunk(body, [{"index": 0, "delta": delta, "finish_reason": None}]))
            self._event(_chunk(body, [{"index": 0, "delta": {}, "finish_reason": "stop"}]))
            if (body.get("stream_options") or {}).get("include_usage"):
                self._event(_chunk(body, [], usage=usage))
            self._event("[DONE]")

        def _event(self, data: str) -> None:
            self.wfile.write(f"data: {data}\n\n".encode())
            self.wfile.flush()

    return Handler


def _chunk(body: dict[str, Any], choices: list[dict[str, Any]], **extra: Any) -> str:
    return json.dumps({"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": body.get("model"),
                       "choices": choices, **extra})


def main() -> None:
    """Serve until interrupted, failing with the given fault by default."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--fault", default="500",
                        help="ok, 429, 500, 503, 401, 400, slow, drop, drop-mid, cut, malformed, trickle")
    args = parser.parse_args()
    with FaultServer(default=args.fault, port=args.port) as server:
        print(f"OPENAI_BASE_URL={server.url}  (every request: {args.fault}; Ctrl-C stops)")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
