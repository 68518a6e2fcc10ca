"""RunInfo: what a run's row says, and whether the process that claims it is alive."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunInfo:
    id: str
    topic: str
    state: str
    phase: str | None
    created_at: float
    updated_at: float
    message: str | None
    pid: int | None
    heartbeat: float | None
    run_dir: Path

    @property
    def alive(self) -> bool:
        """True when the process that claims the run still exists."""
        if self.state not in ("running", "waiting") or not self.pid:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        started = _process_start(self.pid)
        # A process that started after the run last wrote its state is another
        # program that inherited the dead run's pid.
        return started is None or self.heartbeat is None or started <= self.heartbeat + 1.0

    @property
    def shown_state(self) -> str:
        """The state a person should see: a 'running' run whose process died is 'stopped'."""
        if self.state in ("running", "waiting") and not self.alive:
            return "stopped"
        return self.state


def _process_start(pid: int) -> float | None:
    """When `pid` started (epoch seconds), where /proc tells; else None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
    except (OSError, StopIteration, ValueError, IndexError):
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    try:
        ticks = int(fields[19])
    except (IndexError, ValueError):
        return None
    return boot + ticks / os.sysconf("SC_CLK_TCK")
