"""The model-call replay server `labcoat reproduce` gives programs that call models.

It speaks the OpenAI chat-completions wire format on loopback. Replaying, it
answers each request from the bundle's log by the sha256 of its canonical
JSON, and answers a request the log does not hold with HTTP 409 and what
differed — never a live call. With `upstream` set (`--live-models`) it sends
every request on to the provider with the reproducer's own key and records
the answer, so the re-run makes a fresh log.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from labcoat.bundle.model_calls import request_sha256

MAX_BODY = 32 << 20


@dataclass
class ReplayStats:
    served: int = 0
    misses: list[str] = field(default_factory=list)
    forwarded: int = 0
    recorded: list[dict[str, Any]] = field(default_factory=list)


class ReplayServer:
    def __init__(self, calls: list[dict[str, Any]], *, upstream: str | None = None, api_key: str | None = None):
        self.answers: dict[str, list[dict[str, Any]]] = {}
        for call in calls:
            self.answers.setdefault(call.get("request_sha256") or request_sha256(call["request"]), []).append(
                call["response"])
        self.upstream, self.api_key = upstream, api_key
        self.stats = ReplayStats()
        self._lock = threading.Lock()
        self._used: dict[str, int] = {}
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> "ReplayServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        digest = request_sha256(body)
        if self.upstream:
            return self._forward(body)
        with self._lock:
            found = self.answers.get(digest)
            if not found:
                self.stats.misses.append(digest)
                return 409, {"error": {"type": "replay_miss", "message": (
                    f"labcoat reproduce: no recorded model call matches this request (sha256 {digest[:16]}…, "
                    f"model {body.get('model')!r}); the program asked something the original run did not. "
                    "Re-run with --live-models to ask the model.")}}
            # Identical requests made several times get their recorded answers in order.
            n = self._used.get(digest, 0)
            self._used[digest] = n + 1
            self.stats.served += 1
            return 200, found[min(n, len(found) - 1)]

    def _forward(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        import httpx

        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        response = httpx.post(f"{self.upstream.rstrip('/')}/chat/completions", json=body, headers=headers, timeout=600)
        data = response.json()
        with self._lock:
            self.stats.forwarded += 1
            if response.status_code == 200:
                self.stats.recorded.append({"seq": len(self.stats.recorded), "request_sha256": request_sha256(body),
                                            "request": body, "response": data})
        return response.status_code, data

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    return self._send(404, {"error": {"message": f"only chat completions are served, not {self.path}"}})
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    return self._send(413, {"error": {"message": "request too large"}})
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    return self._send(400, {"error": {"message": "the request body is not JSON"}})
                self._send(*server.answer(body))

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return  # the reproduce report says what was served

        return Handler
