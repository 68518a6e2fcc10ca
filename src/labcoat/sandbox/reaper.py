"""A program's leftover processes without bwrap: daemons die with the program.

Without a pid namespace, a program that double-forks and calls `setsid()`
leaves both its process tree and its session. Three things still find such a
process:

- the supervising process is a child subreaper, so an orphan reparents to it,
  not to init, and stays in view as its child until it is reaped here;
- each run puts a unique marker in the program's environment, read back from
  `/proc/<pid>/environ` (at exit, from every process on the machine);
- every process once seen as the program's is remembered by pid and start
  time, and so are the sessions they were in: their descendants and session
  members stay the program's after the parents in between have exited.

Several programs may run in threads of one process, all under the same
subreaper: a `Tracker` claims only its own root's tree and session, its own
marker, and what descends from what it already holds — never another run's.
A program that both scrubs its environment and leaves its tree between two
watchdog looks is not found; bwrap's pid namespace has no such gap.
"""

from __future__ import annotations

import ctypes
import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass, field

from labcoat.sandbox.limits import ProcInfo, kill_all, scan_processes

log = logging.getLogger("labcoat.sandbox")

MARKER = "LABCOAT_SANDBOX_RUN"
PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Make orphaned descendants of this process reparent to it (Linux >= 3.4); False if refused."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0:
            return True
        err = ctypes.get_errno()
    except (OSError, AttributeError) as exc:
        err = getattr(exc, "errno", None) or 0
    log.warning("cannot make the sandbox supervisor a child subreaper (%s): a program's daemons are "
                "found by their environment marker only", os.strerror(err) if err else "no prctl")
    return False


def _environ_has(pid: int, needle: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return needle in f.read().split(b"\0")
    except OSError:
        return False  # gone, or not ours to read


@dataclass
class Tracker:
    """The processes of one program run: its root's tree and session, and all that ever joined them."""

    root: int = 0
    token: str = field(default_factory=lambda: secrets.token_hex(16))
    known: dict[int, int] = field(default_factory=dict)  # pid -> start time
    sessions: set[int] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def env(self) -> dict[str, str]:
        return {MARKER: self.token}

    def scan(self, procs: dict[int, ProcInfo], everywhere: bool = False) -> list[int]:
        """The program's processes in `procs` (remembered for later scans); exited adopted ones are reaped.

        The marker is read from this process's children (where orphans land),
        or with `everywhere` from every process not yet claimed.
        """
        me, needle = os.getpid(), f"{MARKER}={self.token}".encode()
        foreign = {0, os.getsid(0)}  # never claim the supervisor's own session
        with self._lock:
            held = {p.pid for p in procs.values()
                    if p.pid != me and (p.pid == self.root or p.sid == self.root
                                        or self.known.get(p.pid) == p.start
                                        or (p.sid in self.sessions and p.sid not in foreign))}
            for p in procs.values():
                if (p.pid not in held and p.pid != me and p.state != "Z" and (everywhere or p.ppid == me)
                        and _environ_has(p.pid, needle)):
                    held.add(p.pid)
            children: dict[int, list[int]] = {}
            for p in procs.values():
                children.setdefault(p.ppid, []).append(p.pid)
            stack = list(held)
            while stack:
                for child in children.get(stack.pop(), []):
                    if child not in held and child != me:
                        held.add(child)
                        stack.append(child)
            for pid in held:
                self.known[pid] = procs[pid].start
                if procs[pid].sid not in foreign:
                    self.sessions.add(procs[pid].sid)
        for pid in held:
            if pid != self.root and procs[pid].state == "Z" and procs[pid].ppid == me:
                _reap(pid)
        return sorted(held)

    def sweep(self, deadline_s: float = 5.0) -> list[int]:
        """Kill whatever of the program still runs and reap what reparented here; the pids killed."""
        killed: set[int] = set()
        me = os.getpid()
        end = time.monotonic() + deadline_s
        while True:
            procs = scan_processes()
            held = self.scan(procs, everywhere=True)
            live = [p for p in held if p != self.root and procs[p].state != "Z"]
            adopted = [p for p in held if p != self.root and procs[p].ppid == me]
            if live:
                kill_all(self.root, live)
                killed.update(live)
            elif not adopted:
                return sorted(killed)
            if time.monotonic() > end:
                log.warning("sandbox: processes %s of a finished program did not die", live or adopted)
                return sorted(killed)
            time.sleep(0.02)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # reaped meanwhile by another look of the same tracker
