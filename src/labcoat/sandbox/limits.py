"""Resource limits: rlimits via prlimit(1), and a watchdog for what rlimits miss.

rlimits are set by `prlimit` inside the sandbox, after the namespaces exist,
so RLIMIT_NPROC counts only the sandbox's own processes. RLIMIT_AS cannot
see memory summed over child processes (and breaks CUDA), so a watchdog
thread sums the resident memory of every process in the sandbox and kills
the lot when the total passes the limit.
"""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import dataclass, field
from typing import Callable

from labcoat.sandbox.spec import ProgramSpec

MB = 1024 * 1024
PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")


def prlimit_argv(spec: ProgramSpec, prlimit: str = "prlimit") -> list[str]:
    """`prlimit ... --` setting the spec's limits (soft CPU limit first: SIGXCPU names it)."""
    argv = [
        prlimit,
        f"--cpu={spec.cpu_s}:{spec.cpu_s + 2}",
        f"--fsize={spec.file_size_mb * MB}",
        f"--nproc={spec.max_processes}",
        f"--nofile={spec.max_open_files}",
        "--core=0",
    ]
    if not spec.gpus:
        # CUDA maps huge virtual ranges; with GPUs the watchdog alone guards memory.
        argv.append(f"--as={spec.memory_mb * MB}")
    return [*argv, "--"]


@dataclass
class ProcInfo:
    pid: int
    ppid: int
    sid: int
    rss: int  # bytes
    cpu_s: float  # user + system time of the process itself
    comm: str
    start: int = 0  # clock ticks after boot: with the pid, names one process even if the pid is reused
    state: str = "R"  # "Z" once it has exited and waits to be reaped


def scan_processes() -> dict[int, ProcInfo]:
    """Every process visible in /proc, with parent, session and resident memory."""
    out: dict[int, ProcInfo] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return out
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                raw = f.read()
        except OSError:
            continue  # exited meanwhile
        # The command name may contain spaces and parentheses: split after the last ')'.
        rest = raw[raw.rfind(b")") + 2:].split()
        try:
            ppid, sid, rss_pages = int(rest[1]), int(rest[3]), int(rest[21])
            ticks = int(rest[11]) + int(rest[12])
            start = int(rest[19])
        except (IndexError, ValueError):
            continue
        comm = raw[raw.find(b"(") + 1:raw.rfind(b")")].decode("utf-8", errors="replace")
        out[int(name)] = ProcInfo(int(name), ppid, sid, rss_pages * PAGE, ticks / TICKS, comm, start,
                                  rest[0].decode(errors="replace"))
    return out


def sandbox_members(root: int, procs: dict[int, ProcInfo]) -> list[int]:
    """`root`, its descendants, and whatever shares its session (orphans included)."""
    children: dict[int, list[int]] = {}
    for p in procs.values():
        children.setdefault(p.ppid, []).append(p.pid)
    found = {root} if root in procs else set()
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    root_info = procs.get(root)
    if root_info is not None:
        found.update(p.pid for p in procs.values() if p.sid == root_info.sid)
    return sorted(found)


def kill_all(root: int, pids: list[int]) -> None:
    """SIGKILL the process group of `root` and each listed process."""
    try:
        os.killpg(root, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # the group is already gone
    for pid in pids:
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


@dataclass
class Watchdog:
    """Polls the sandbox's memory; kills it when the total RSS exceeds `limit_bytes`."""

    root: int
    limit_bytes: int
    interval_s: float = 0.1
    # Which processes belong to the sandbox, given a scan; by default `sandbox_members` of the root.
    members: Callable[[dict[int, ProcInfo]], list[int]] | None = None
    peak_bytes: int = 0
    tripped: bool = False
    cpu_by_pid: dict[int, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> "Watchdog":
        self._thread = threading.Thread(target=self._loop, name=f"rss-watchdog-{self.root}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def cpu_s(self) -> float:
        """CPU time of the sandbox's processes as last seen (processes between looks are missed)."""
        return sum(self.cpu_by_pid.values())

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            procs = scan_processes()
            if self.root not in procs:
                return
            members = self.members(procs) if self.members else sandbox_members(self.root, procs)
            total = sum(procs[p].rss for p in members if p in procs)
            self.peak_bytes = max(self.peak_bytes, total)
            for p in members:
                if p in procs:
                    self.cpu_by_pid[p] = max(self.cpu_by_pid.get(p, 0.0), procs[p].cpu_s)
            if total > self.limit_bytes:
                self.tripped = True
                kill_all(self.root, members)
                return
