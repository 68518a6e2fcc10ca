"""`Gateway`: the HTTP server experiment programs reach models through, and their grants.

One server per run (uvicorn, one event loop in a thread of the labcoat
process that holds the keys) listens on a Unix socket in a private directory;
each program that may call models gets a `Grant` while it runs and the socket
bound into its sandbox. For the Ray executor it also listens on TCP
(`experiments.gateway_host`) so a relay on a worker node can reach it; a
program's token is its only credential there, valid while the program runs.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from labcoat.gateway.calls import ExperimentCalls, Grant

INSIDE = Path(__file__).parent / "inside"
START_TIMEOUT_S = 30.0


class Gateway:
    def __init__(self, calls: ExperimentCalls, *, tcp_host: str | None = None, log: Any = None):
        self.calls = calls
        self.tcp_host = tcp_host
        self.tcp: str | None = None
        self.socket_path = ""
        self._log = log
        self._grants: dict[str, Grant] = {}
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
        app = create_app(self.calls, self.grant_for, self._note)
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

    def open(self, program: str, *, allowed: tuple[str, ...], max_calls: int, max_concurrent: int,
             max_tokens: int, phase: str | None = None) -> Grant:
        grant = Grant(program=program, allowed=allowed, max_calls=max_calls, max_concurrent=max_concurrent,
                      max_tokens=max_tokens, phase=phase)
        with self._lock:
            self._grants[grant.token] = grant
        return grant

    def revoke(self, grant: Grant) -> None:
        with self._lock:
            self._grants.pop(grant.token, None)

    def access(self, grant: Grant, *, remote: bool = False) -> dict[str, Any]:
        """What the sandbox needs to give the program (`ProgramSpec.gateway`); never recorded."""
        return {"socket": None if remote else self.socket_path, "tcp": self.tcp if remote else None,
                "token": grant.token, "model": grant.allowed[0], "lib": str(INSIDE)}

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
