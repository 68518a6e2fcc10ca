"""`Gateway`: the HTTP server experiment programs reach models through, and their grants.

One server per run (uvicorn, one event loop in a thread of the labcoat
process that holds the keys). Each program that may call models gets a
`Grant` while it runs and a Unix socket of its own in a private directory,
bound into its sandbox: a request on that socket is that program's whatever
key its code puts in the header (Agent Laboratory's snippets overwrite
OPENAI_API_KEY), and nothing else can reach the socket from inside another
sandbox. The shared socket and, for the Ray executor, a TCP listener
(`experiments.gateway_host`, for a relay on a worker node) identify a program
by its token, its only credential there, valid while the program runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import socket
import tempfile
import threading
import time
from typing import Any

from labcoat.gateway.calls import ExperimentCalls, Grant

START_TIMEOUT_S = 30.0


class Gateway:
    def __init__(self, calls: ExperimentCalls, *, tcp_host: str | None = None, log: Any = None):
        self.calls = calls
        self.tcp_host = tcp_host
        self.tcp: str | None = None
        self.socket_path = ""
        self._log = log
        self._grants: dict[str, Grant] = {}
        self._by_socket: dict[str, Grant] = {}
        self._listeners: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._dir: str | None = None

    def start(self) -> "Gateway":
        import uvicorn

        from labcoat.gateway.app import create_app

        # Traversable but not listable by the uid programs run as; the socket itself takes any local
        # connection, which the per-program token then has to pass.
        self._dir = tempfile.mkdtemp(prefix="labcoat-gw-")
        os.chmod(self._dir, 0o711)
        self.socket_path = os.path.join(self._dir, "gateway.sock")
        uds = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        uds.bind(self.socket_path)
        os.chmod(self.socket_path, 0o666)
        uds.listen(256)
        sockets = [uds]
        if self.tcp_host:
            tcp = socket.create_server((self.tcp_host, 0), backlog=256)
            sockets.append(tcp)
            self.tcp = f"{self.tcp_host}:{tcp.getsockname()[1]}"
        app = create_app(self.calls, self.grant_for, self._note, self.grant_on)
        # Garbage a program sends is answered (400) and not worth a line on the researcher's terminal.
        config = uvicorn.Config(app, log_level="error", access_log=False, lifespan="off", timeout_keep_alive=60)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": sockets},
                                        name="labcoat-gateway", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("the model gateway for experiments did not start")
            time.sleep(0.01)
        return self

    def grant_for(self, token: str) -> Grant | None:
        with self._lock:
            return self._grants.get(token)

    def grant_on(self, socket_path: str) -> Grant | None:
        """The program whose own socket a request arrived on, if it did."""
        with self._lock:
            return self._by_socket.get(socket_path)

    def _listen(self, grant: Grant) -> str:
        """A socket of the program's own, served by the running server's loop."""
        path = os.path.join(self._dir or "", f"p-{secrets.token_hex(8)}.sock")  # names nothing of the token
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(path)
        os.chmod(path, 0o666)
        sock.listen(64)
        server = self._server
        config = server.config

        def protocol(_loop: Any = None) -> Any:
            return config.http_protocol_class(config=config, server_state=server.server_state,
                                              app_state=server.lifespan.state, _loop=_loop)

        loop = server.servers[0].get_loop()
        listener = asyncio.run_coroutine_threadsafe(loop.create_server(protocol, sock=sock, backlog=64),
                                                    loop).result(timeout=START_TIMEOUT_S)
        with self._lock:
            self._by_socket[path] = grant
            self._listeners[grant.token] = (path, listener, loop)
        return path

    def open(self, program: str, *, allowed: tuple[str, ...], max_calls: int, max_concurrent: int,
             max_tokens: int, phase: str | None = None) -> Grant:
        grant = Grant(program=program, allowed=allowed, max_calls=max_calls, max_concurrent=max_concurrent,
                      max_tokens=max_tokens, phase=phase)
        with self._lock:
            self._grants[grant.token] = grant
        self._listen(grant)
        return grant

    def revoke(self, grant: Grant) -> None:
        with self._lock:
            self._grants.pop(grant.token, None)
            path, listener, loop = self._listeners.pop(grant.token, (None, None, None))
            self._by_socket.pop(path or "", None)
        if listener is not None:
            loop.call_soon_threadsafe(listener.close)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def access(self, grant: Grant, *, remote: bool = False) -> dict[str, Any]:
        """What the sandbox needs to give the program (`ProgramSpec.gateway`); never recorded."""
        own = self._listeners[grant.token][0]
        return {"socket": None if remote else own, "tcp": self.tcp if remote else None,
                "token": grant.token, "model": grant.allowed[0]}

    def _note(self, message: str, payload: dict) -> None:
        if self._log is not None:
            self._log(message, payload)

    def close(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
