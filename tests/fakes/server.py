"""`FakeProvider`: a threaded stdlib HTTP server that replays scripted provider replies."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

Dialect = Literal["openai", "anthropic", "ollama"]

# Where each dialect takes chat turns, and what it answers without consuming the script
# (the runtime's preflight asks these to see that the endpoint is up).
_CHAT_PATHS: dict[str, str] = {
    "openai": "/v1/chat/completions",
    "anthropic": "/v1/messages",
    "ollama": "/api/chat",
}
_LIST_PATHS: dict[str, dict[str, Any]] = {
    "openai": {"/v1/models": {"object": "list", "data": [{"id": "fake", "object": "model"}]}},
    "anthropic": {"/v1/models": {"data": [{"id": "fake", "type": "model"}], "has_more": False}},
    "ollama": {"/api/tags": {"models": [{"name": "fake", "model": "fake"}]}},
}


@dataclass(frozen=True)
class Reply:
    """One scripted answer: a JSON body with a status, extra headers, sent after a delay."""

    body: dict[str, Any]
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass(frozen=True)
class Request:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw)


class FakeProvider:
    """A loopback server speaking one provider's chat API from a script of replies.

    Chat requests consume `script`ed replies in order; when none is left the server answers
    with `fallback` (by default a 500 that says the script ran out, so a test that asks more
    than it scripted fails loudly).
    """

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.requests: list[Request] = []
        self._script: list[Reply] = []
        self._lock = threading.Lock()
        self.fallback = Reply({"error": {"message": "the fake's script ran out"}}, status=500)
        # What the model-list endpoints answer (the runtime's preflight); 401 refuses a key.
        self.list_status = 200
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """The base URL as each provider package expects it (OpenAI's includes /v1)."""
        root = f"http://127.0.0.1:{self.port}"
        return root + "/v1" if self.dialect == "openai" else root

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._script.extend(replies)

    @property
    def chat_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path == _CHAT_PATHS[self.dialect]]

    def start(self) -> FakeProvider:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _answer(self, request: Request) -> tuple[Reply, bool]:
        """The reply for a request, and whether it is to be streamed as NDJSON."""
        self.requests.append(request)
        listing = _LIST_PATHS[self.dialect].get(request.path)
        if request.method == "GET" and listing is not None:
            return Reply(listing, status=self.list_status), False
        if request.method != "POST" or request.path != _CHAT_PATHS[self.dialect]:
            return Reply({"error": f"no route {request.method} {request.path}"}, status=404), False
        with self._lock:
            reply = self._script.pop(0) if self._script else self.fallback
        stream = self.dialect == "ollama" and bool(request.json.get("stream", True))
        return reply, stream


def _handler_for(fake: FakeProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test asserts on `fake.requests`, not on stderr."""

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            path = self.path.split("?", 1)[0]
            reply, stream = fake._answer(Request(self.command, path, headers, raw))
            if reply.delay_s:
                time.sleep(reply.delay_s)
            data = json.dumps(reply.body).encode()
            kind = "application/json"
            if stream and reply.status == 200:
                data, kind = data + b"\n", "application/x-ndjson"
            try:
                self.send_response(reply.status)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test): nothing to answer

        do_GET = _serve
        do_POST = _serve

    return Handler
