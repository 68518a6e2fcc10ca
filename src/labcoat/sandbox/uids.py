"""A uid of its own for each program running at once (when labcoat runs as root).

The kernel counts RLIMIT_NPROC per real uid, across namespaces: were every
sandbox uid 65534, one program's fork storm would use up the process limit
of every other candidate running beside it. So each running program takes a
free slot among `COUNT` uids from `BASE` (far above any account a system
hands out) and holds it with an advisory lock on a file for as long as it
runs; the lock goes away with the process that holds it, even if it dies.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from dataclasses import dataclass

BASE = 1_900_000_000
COUNT = 4096


def lock_dir() -> str:
    """Root-only directory of the slot lock files (/run when writable, else the temp dir)."""
    for parent in ("/run", tempfile.gettempdir()):
        if os.access(parent, os.W_OK):
            path = os.path.join(parent, f"labcoat-uids-{os.geteuid()}")
            os.makedirs(path, mode=0o700, exist_ok=True)
            return path
    raise OSError("no writable directory for the sandbox's uid slots")


@dataclass
class UidSlot:
    uid: int
    fd: int

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing drops the lock
            self.fd = -1


def claim(directory: str | None = None) -> UidSlot:
    """The first free slot, starting at one derived from this process so workers rarely collide."""
    directory = directory or lock_dir()
    start = os.getpid() % COUNT
    for i in range(COUNT):
        slot = (start + i) % COUNT
        fd = os.open(os.path.join(directory, str(slot)), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return UidSlot(BASE + slot, fd)
    raise OSError(f"all {COUNT} sandbox uid slots are taken")
