"""Resource limits: rlimits via prlimit(1), and a watchdog for what rlimits miss.

rlimits are set by `prlimit` inside the sandbox. RLIMIT_NPROC is counted by
the kernel per real uid, so each program running at once gets a uid of its
own when labcoat is root (`uids`); as a normal user every program shares the
user's count. RLIMIT_AS cannot see memory summed over child processes (and
breaks CUDA), and RLIMIT_FSIZE caps one file only, so a watchdog thread sums
the resident memory of every process in the sandbox plus what its private
/tmp holds (RAM too), and the disk the workdir and /tmp take, and kills the
lot when either total passes its limit.
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


def disk_usage(root: str, limit_entries: int = 200_000) -> int:
    """Bytes allocated under `root` (links not followed; stops counting after `limit_entries`)."""
    total, seen, stack = 0, 0, [root]
    while stack and seen < limit_entries:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    seen += 1
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue  # removed meanwhile
                    total += st.st_blocks * 512
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
        except OSError:
            continue
    return total


def tmpfs_used(pid: int, size: int) -> int:
    """Bytes in use on the /tmp that process `pid` sees, if it is the sandbox's tmpfs of `size` bytes, else 0.

    Until bwrap has switched to the new root, the process still sees the host's /tmp: the size tells them apart.
    """
    try:
        st = os.statvfs(f"/proc/{pid}/root/tmp")
    except OSError:
        return 0
    if st.f_blocks * st.f_frsize != size:
        return 0
    return (st.f_blocks - st.f_bfree) * st.f_frsize


@dataclass
class Watchdog:
    """Polls the sandbox; kills it when memory (RSS + private /tmp) or disk passes its limit.

    `tripped` names the limit ("memory" or "disk"). The disk is walked every
    `disk_every` looks: a program may overshoot by what it writes meanwhile.
    """

    root: int
    limit_bytes: int
    interval_s: float = 0.1
    # Which processes belong to the sandbox, given a scan; by default `sandbox_members` of the root.
    members: Callable[[dict[int, ProcInfo]], list[int]] | None = None
    workdir: str | None = None
    disk_bytes: int | None = None
    tmp_bytes: int = 0  # size of the program's private /tmp (bwrap), 0 when it has none
    disk_every: int = 4
    peak_bytes: int = 0
    peak_disk_bytes: int = 0
    tripped: str | None = None
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
        looks = 0
        while not self._stop.wait(self.interval_s):
            procs = scan_processes()
            if self.root not in procs:
                return
            members = self.members(procs) if self.members else sandbox_members(self.root, procs)
            tmp = self._tmp(procs) if self.tmp_bytes else 0
            total = sum(procs[p].rss for p in members if p in procs) + tmp
            self.peak_bytes = max(self.peak_bytes, total)
            for p in members:
                if p in procs:
                    self.cpu_by_pid[p] = max(self.cpu_by_pid.get(p, 0.0), procs[p].cpu_s)
            if total > self.limit_bytes:
                return self._trip("memory", members)
            looks += 1
            if self.workdir and self.disk_bytes is not None and looks % self.disk_every == 1:
                disk = disk_usage(self.workdir) + tmp
                self.peak_disk_bytes = max(self.peak_disk_bytes, disk)
                if disk > self.disk_bytes:
                    return self._trip("disk", members)

    def _tmp(self, procs: dict[int, ProcInfo]) -> int:
        # The root (bwrap's monitor) stays in the host's mounts; its child lives in the sandbox's.
        child = next((p.pid for p in procs.values() if p.ppid == self.root), None)
        return tmpfs_used(child, self.tmp_bytes) if child is not None else 0

    def _trip(self, limit: str, members: list[int]) -> None:
        self.tripped = limit
        kill_all(self.root, members)
