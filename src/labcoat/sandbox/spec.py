"""What to run (`ProgramSpec`) and what happened (`ProgramResult`).

Both are plain dataclasses so they pickle to executor workers and back. A
result never raises for the program's own failures: exit status, the limit
that killed it, and malformed metrics are all reported as data.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

KilledBy = Literal["timeout", "memory", "cpu", "file_size", "disk", "output", "processes", "signal"]
SandboxMode = Literal["bwrap", "rlimits-only"]

# The unprivileged account a program runs as when labcoat itself runs as root and no uid slot is free.
NOBODY = 65534


@dataclass
class ProgramSpec:
    # -- the program ------------------------------------------------------------
    workdir: str
    code: str | None = None
    path: str | None = None  # a program file, copied into the workdir
    script_name: str = "main.py"
    argv: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # extra files written into the workdir first
    inputs: dict[str, str] = field(default_factory=dict)  # name -> host dir, read-only at inputs/<name>
    copy_in: dict[str, str] = field(default_factory=dict)  # workdir-relative path -> host file (e.g. caches)
    command: list[str] | None = None  # run this instead of `python script_name` (e.g. latexmk)
    # -- limits -----------------------------------------------------------------
    timeout_s: float = 600.0
    cpu_s: int = 900
    memory_mb: int = 4096
    file_size_mb: int = 1024
    disk_mb: int = 8192  # the workdir and the private /tmp together
    tmp_mb: int | None = None  # size of the private /tmp (RAM, counted as memory too); default: memory_mb
    max_processes: int = 256
    max_open_files: int = 1024
    output_limit_kb: int = 256  # kept per stream: head + tail
    output_kill_mb: int = 64  # total output beyond this kills the program
    threads: int = 1  # OMP/BLAS threads
    # -- environment ------------------------------------------------------------
    network: bool = False
    env: dict[str, str] = field(default_factory=dict)  # extra plain variables (never secrets)
    granted_env: dict[str, str] = field(default_factory=dict)  # secrets the config grants by name
    python: str = field(default_factory=lambda: sys.executable)
    python_paths: list[str] | None = None  # interpreter dirs to mount; probed when None
    gpus: list[int] = field(default_factory=list)
    # model access through labcoat's gateway: {socket, tcp, token, model}; the token is never recorded
    gateway: dict[str, Any] | None = None
    # -- sandbox ----------------------------------------------------------------
    mode: Literal["auto", "bwrap", "rlimits-only"] = "auto"
    # Host paths bound read-only at the same place, beside the system and the interpreter.
    ro_binds: list[str] = field(default_factory=list)
    # The parts of /etc the program sees; None: all of it (programs), a list: only those (TeX).
    etc: list[str] | None = None
    uid: int | None = None  # used only when labcoat runs as root; None: a uid of its own (see `uids`)
    watchdog_interval_s: float = 0.25  # each look scans /proc (~3 ms of CPU)

    def describe(self) -> dict[str, Any]:
        """The spec as JSON without secret values (granted keys by name only)."""
        data = asdict(self)
        data["granted_env"] = sorted(self.granted_env)
        data["gateway"] = bool(self.gateway)
        return data


@dataclass
class ProgramResult:
    # -- how it ended -----------------------------------------------------------
    exit_code: int | None
    signal: str | None = None
    killed_by: KilledBy | None = None
    duration_s: float = 0.0
    cpu_s: float = 0.0
    peak_rss_mb: float = 0.0
    # -- what it said -----------------------------------------------------------
    stdout: str = ""
    stderr: str = ""
    stdout_bytes: int = 0
    stderr_bytes: int = 0
    # -- what it left -----------------------------------------------------------
    workdir: str = ""
    files: list[str] = field(default_factory=list)  # relative to the workdir
    metrics: list[dict[str, Any]] = field(default_factory=list)
    metrics_errors: list[str] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)  # relative to the workdir
    # -- the sandbox ------------------------------------------------------------
    sandbox: SandboxMode = "bwrap"
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.killed_by is None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
