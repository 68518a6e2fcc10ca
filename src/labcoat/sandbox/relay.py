"""`Relay`: a local Unix socket whose connections are passed on to a TCP address.

Used on a Ray worker on another machine: the program's sandbox binds the
relay's socket as if it were the gateway's, and each connection is carried
to the driver's gateway over TCP. Bytes only: the gateway still checks the
program's token on every request.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while chunk := src.recv(1 << 16):
            dst.sendall(chunk)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Relay:
    def __init__(self, target: str):
        host, _, port = target.rpartition(":")
        self.target = (host.strip("[]"), int(port))
        self._dir = tempfile.mkdtemp(prefix="labcoat-relay-")
        os.chmod(self._dir, 0o711)
        self.path = os.path.join(self._dir, "gateway.sock")
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.path)
        os.chmod(self.path, 0o666)
        self._listener.listen(64)
        self._thread = threading.Thread(target=self._serve, name="gateway-relay", daemon=True)

    def __enter__(self) -> "Relay":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(a, b), daemon=True).start()

    def close(self) -> None:
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        shutil.rmtree(self._dir, ignore_errors=True)
