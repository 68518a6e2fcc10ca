"""An archive served in this process for a lab group that has none configured.

Labs of one group must publish to and search one archive. When the config
names no `archive.url`, the group gets its own archive folder, served on a
free loopback port for as long as the group runs (restarted on resume; the
papers stay in the folder).
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

from labcoat.errors import LabcoatError


class LocalArchive:
    def __init__(self, url: str | None = None, root: Path | None = None):
        self.url = url or ""
        self.root = root
        self._server = None
        self._thread: threading.Thread | None = None

    @classmethod
    def for_group(cls, group_root: Path, url: str | None) -> "LocalArchive":
        return cls(url=url) if url else cls(root=Path(group_root) / "archive")

    def __enter__(self) -> "LocalArchive":
        if self.root is None:
            return self
        import uvicorn

        from labcoat.archive.service import create_app

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        config = uvicorn.Config(create_app(self.root), host="127.0.0.1", port=port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise LabcoatError(f"the lab group's archive at {self.root} did not start")
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.should_exit = True
            if self._thread is not None:
                self._thread.join(timeout=10)
