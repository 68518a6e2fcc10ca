"""`run_program`: one untrusted program, one fresh process tree, one workdir.

The program gets a scrubbed environment, rlimits, a wall-clock timeout that
kills its whole process group, an RSS watchdog, capped output capture, and —
when bubblewrap is on PATH — namespaces (see `bwrap`). Without bubblewrap,
what the program leaves running, daemons included, is killed when it exits
(see `reaper`). Whatever the program does, the caller gets a `ProgramResult`;
only a sandbox that cannot be set up raises `SandboxError`. Picklable and
free of shared state, so it runs in the driver or in an executor worker alike.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import stat
import subprocess
import threading
import time
from pathlib import Path

from labcoat.errors import LabcoatError
from labcoat.sandbox import artefacts, gateway_access
from labcoat.sandbox.bwrap import bwrap_argv, python_paths
from labcoat.sandbox.capture import CappedStream, pump
from labcoat.sandbox.limits import MB, Watchdog, kill_all, prlimit_argv
from labcoat.sandbox.reaper import Tracker, become_subreaper
from labcoat.sandbox.seccomp import filter_fd
from labcoat.sandbox.spec import NOBODY, ProgramResult, ProgramSpec
from labcoat.sandbox.uids import UidSlot, claim

log = logging.getLogger("labcoat.sandbox")

NO_ISOLATION = ("SANDBOX WITHOUT ISOLATION: bubblewrap (bwrap) is not installed, so this program ran with "
                "resource limits only — it could read your files and reach the network. "
                "Install it: sudo apt-get install bubblewrap")


SHIELD = ["/bin/sh", "-c", '"$@"; exit $?', "labcoat-sandbox"]


class SandboxError(LabcoatError):
    """The sandbox itself cannot be set up (not a failure of the program)."""


def sandbox_mode(requested: str = "auto") -> str:
    """'bwrap' when bubblewrap is usable, else 'rlimits-only'; 'bwrap' demanded but missing raises."""
    tools = ["prlimit"] + (["setpriv"] if os.geteuid() == 0 else [])
    missing = [t for t in tools if not shutil.which(t, path="/usr/local/bin:/usr/bin:/bin")]
    if missing:
        raise SandboxError(f"the sandbox needs {' and '.join(missing)} (util-linux): sudo apt-get install util-linux")
    have = shutil.which("bwrap") is not None
    if requested == "bwrap" and not have:
        raise SandboxError("sandbox.require_bwrap is set but bwrap is not on PATH: sudo apt-get install bubblewrap")
    if requested == "rlimits-only":
        return "rlimits-only"
    return "bwrap" if have else "rlimits-only"


def program_env(spec: ProgramSpec, workdir: str, mode: str) -> dict[str, str]:
    """The allow-listed environment: nothing from the parent except granted names."""
    cache = f"{workdir}/.cache"
    threads = str(spec.threads)
    env = {
        "PATH": f"{os.path.dirname(spec.python)}:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
        "HOME": workdir,
        "TMPDIR": "/tmp" if mode == "bwrap" else f"{workdir}/.tmp",
        "MPLBACKEND": "Agg", "MPLCONFIGDIR": f"{cache}/matplotlib",
        "XDG_CACHE_HOME": cache, "XDG_CONFIG_HOME": f"{workdir}/.config",
        "HF_HOME": f"{cache}/huggingface", "TORCH_HOME": f"{cache}/torch",
        "PYTHONHASHSEED": "0", "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1",
        "OMP_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads, "MKL_NUM_THREADS": threads,
        "LABCOAT_SANDBOX": mode,
    }
    if not spec.network:
        env.update({"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})
    if spec.gpus:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in spec.gpus)
    env.update(spec.env)
    env.update(spec.granted_env)
    return env


def prepare_workdir(spec: ProgramSpec, mode: str) -> Path:
    workdir = Path(os.path.realpath(spec.workdir))
    workdir.mkdir(parents=True, exist_ok=True)
    if spec.path is not None:
        shutil.copyfile(spec.path, workdir / spec.script_name)
    elif spec.code is not None:
        (workdir / spec.script_name).write_text(spec.code, encoding="utf-8")
    elif spec.command is None:
        raise SandboxError("a program needs `code`, `path` or `command`")
    if mode != "bwrap":
        (workdir / ".tmp").mkdir(exist_ok=True)  # TMPDIR: without bwrap there is no private /tmp
    for name, content in [*spec.files.items(), *spec.copy_in.items()]:
        target = (workdir / name).resolve()
        if not target.is_relative_to(workdir):
            raise SandboxError(f"file {name!r} would be written outside the working directory")
        target.parent.mkdir(parents=True, exist_ok=True)
        if name in spec.copy_in:
            shutil.copyfile(content, target)
        else:
            target.write_text(content, encoding="utf-8")
    if spec.inputs:
        (workdir / "inputs").mkdir(exist_ok=True)
    for name, src in spec.inputs.items():
        if "/" in name or name in ("", ".", ".."):
            raise SandboxError(f"input name {name!r} must be a plain directory name")
        if not os.path.exists(src):
            raise SandboxError(f"input {name!r}: {src} does not exist")
        if os.path.realpath(src) != os.path.abspath(src):
            # An input may come from an earlier program's workdir: a link there could expose any host path.
            raise SandboxError(f"input {name!r}: {src} goes through a symbolic link (to {os.path.realpath(src)}); "
                               "give the real path")
        mount = workdir / "inputs" / name
        if mode == "bwrap":
            mount.mkdir(exist_ok=True)  # the mount point; bwrap binds the input over it
        elif not mount.exists():
            mount.symlink_to(os.path.realpath(src))
    return workdir


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    os.chown(root, uid, gid)
    for base, dirs, files in os.walk(root):
        if Path(base) == root:
            dirs[:] = [d for d in dirs if d != "inputs"]
        for name in dirs + files:
            try:
                os.chown(os.path.join(base, name), uid, gid, follow_symlinks=False)
            except FileNotFoundError:
                continue


def _unreachable(path: str, uid: int) -> str | None:
    """The first ancestor directory of `path` that `uid` cannot traverse, if any."""
    cur = Path(os.path.realpath(path))
    for d in [*reversed(cur.parents)]:
        st = d.stat()
        if st.st_uid != uid and not st.st_mode & stat.S_IXOTH:
            return str(d)
    return None


def _program_argv(spec: ProgramSpec, launch: list[str] | None = None) -> list[str]:
    if spec.command is not None:
        return [*spec.command, *spec.argv]
    return [spec.python, *(launch or []), spec.script_name, *spec.argv]


def _uid_slot(spec: ProgramSpec) -> UidSlot:
    """The uid the program runs as when labcoat is root: the spec's, else a free slot of its own."""
    if spec.uid is not None:
        return UidSlot(spec.uid, -1)
    try:
        return claim()
    except OSError as exc:
        log.warning("no uid slot of its own for this program (%s); it shares uid %d", exc, NOBODY)
        return UidSlot(NOBODY, -1)


def run_program(spec: ProgramSpec) -> ProgramResult:
    mode = sandbox_mode(spec.mode)
    as_root = os.geteuid() == 0
    slot = _uid_slot(spec) if as_root else UidSlot(os.getuid(), -1)
    try:
        with gateway_access.gateway_socket(spec) as gateway:
            return _run(spec, mode, as_root, slot.uid, gateway)
    finally:
        slot.release()


def _run(spec: ProgramSpec, mode: str, as_root: bool, uid: int, gateway: str | None) -> ProgramResult:
    workdir = prepare_workdir(spec, mode)
    before = set(artefacts.written_files(workdir))
    env = program_env(spec, str(workdir), mode)
    env.update(gateway_access.env_for(spec, gateway, mode))
    program = _program_argv(spec, gateway_access.launcher(gateway, mode))
    tracker = Tracker()
    popen_extra: dict = {}
    warnings: list[str] = []
    seccomp = -1
    if mode == "bwrap":
        if spec.command is not None and spec.python_paths is None:
            dirs = []  # not a Python program: no interpreter to bind
        else:
            dirs = spec.python_paths if spec.python_paths is not None else python_paths(spec.python)
        seccomp = filter_fd() or -1
        argv = bwrap_argv(spec, program, bwrap=shutil.which("bwrap") or "bwrap", as_root=as_root,
                          interpreter_dirs=dirs, uid=uid, seccomp_fd=seccomp if seccomp >= 0 else None,
                          extra_binds=gateway_access.bwrap_binds(gateway))
    else:
        warnings.append(NO_ISOLATION)
        log.warning(NO_ISOLATION)
        # A shell stays between us and the program, so `kill(getppid())` cannot reach the runner.
        argv = [*SHIELD, *prlimit_argv(spec), *program]
        # Orphans (a double-forked daemon) then reparent here, not to init, where the tracker finds them.
        become_subreaper()
        env.update(tracker.env)
        if as_root:
            needs = [str(workdir)] + ([spec.python] if spec.command is None else [])
            for needed in needs:
                blocked = _unreachable(needed, uid)
                if blocked:
                    raise SandboxError(
                        f"without bubblewrap, programs run as uid {uid}, which cannot reach {needed} "
                        f"({blocked} is closed to other users); install bubblewrap, or keep runs and the "
                        "experiment interpreter (sandbox.python) under world-readable directories")
            popen_extra = {"user": uid, "group": uid, "extra_groups": []}
    if as_root:
        _chown_tree(workdir, uid, uid)
    try:
        result = _supervise(spec, argv, workdir, env, popen_extra, tracker, seccomp)
    finally:
        if seccomp >= 0:
            os.close(seccomp)
        if as_root:
            _chown_tree(workdir, os.geteuid(), os.getegid())
    result.sandbox = "bwrap" if mode == "bwrap" else "rlimits-only"
    result.warnings = warnings
    result.workdir = str(workdir)
    result.files = artefacts.written_files(workdir, exclude=before)
    result.figures = artefacts.figures(result.files)
    result.metrics, result.metrics_errors = artefacts.read_metrics(workdir)
    return result


def _supervise(spec: ProgramSpec, argv: list[str], workdir: Path, env: dict[str, str],
               popen_extra: dict, tracker: Tracker, seccomp: int = -1) -> ProgramResult:
    cap = spec.output_limit_kb * 1024
    out, err = CappedStream(cap), CappedStream(cap)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    bwrap = argv[0].endswith("bwrap")
    # bwrap reports the program's exit status on this pipe; without it, the sandbox never came up.
    status_r, status_w = os.pipe() if bwrap else (-1, -1)
    if bwrap:
        argv = [argv[0], "--json-status-fd", str(status_w), *argv[1:]]
    started = time.monotonic()
    try:
        proc = subprocess.Popen(argv, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=out_w, stderr=err_w,
                                start_new_session=True, close_fds=True,
                                pass_fds=tuple(fd for fd in (status_w, seccomp) if fd >= 0),
                                **popen_extra)
    except OSError as exc:
        for fd in (out_r, err_r, status_r):
            if fd >= 0:
                os.close(fd)
        raise SandboxError(f"cannot start the sandbox ({argv[0]}): {exc}") from exc
    finally:
        for fd in (out_w, err_w, status_w):
            if fd >= 0:
                os.close(fd)
    pid = proc.pid
    tracker.root = pid
    flags = {"timeout": False, "output": False}
    seen = [0]
    lock = threading.Lock()
    kill_at = spec.output_kill_mb * MB

    def on_chunk(n: int) -> None:
        with lock:
            seen[0] += n
            over = seen[0] > kill_at and not flags["output"]
            if over:
                flags["output"] = True
        if over:
            kill_all(pid, [])

    def on_timeout() -> None:
        flags["timeout"] = True
        kill_all(pid, [])

    pumps = [pump(out_r, out, on_chunk), pump(err_r, err, on_chunk)]
    # Inside bwrap the pid namespace holds all of the program; without it the tracker finds its daemons.
    watchdog = Watchdog(pid, spec.memory_mb * MB, spec.watchdog_interval_s,
                        members=None if bwrap else tracker.scan, workdir=str(workdir),
                        disk_bytes=spec.disk_mb * MB, tmp_bytes=_tmp_bytes(spec) if bwrap else 0).start()
    timer = threading.Timer(spec.timeout_s, on_timeout)
    timer.daemon = True
    timer.start()
    try:
        _, status, usage = os.wait4(pid, 0)
    except BaseException:
        # Interrupted (Ctrl-C, a dying worker): the program must not outlive its supervisor.
        kill_all(pid, [])
        if not bwrap:
            tracker.sweep()
        raise
    finally:
        timer.cancel()
        watchdog.stop()
    proc.returncode = 0  # reaped here; keeps Popen from waiting on a recycled pid
    duration = time.monotonic() - started
    # Background children and daemons outlive the program only until now.
    if bwrap:
        # The pid namespace died with the program: nothing of it can be left running.
        leftovers: list[int] = []
        kill_all(pid, [])
        os.set_blocking(status_r, False)
        try:
            status_json = os.read(status_r, 1 << 16)
        except BlockingIOError:
            status_json = b""
        os.close(status_r)
        if b'"exit-code"' not in status_json and not any(flags.values()) and not watchdog.tripped:
            for t in pumps:
                t.join(timeout=5)
            raise SandboxError("bubblewrap could not set up the sandbox: "
                               + err.text().strip()[-500:] + " (run `labcoat doctor`)")
    else:
        kill_all(pid, [])
        leftovers = tracker.sweep()
    for t in pumps:
        t.join(timeout=10)
    result = ProgramResult(exit_code=None, duration_s=round(duration, 3),
                           cpu_s=round(max(usage.ru_utime + usage.ru_stime, watchdog.cpu_s), 3),
                           peak_rss_mb=round(max(watchdog.peak_bytes, usage.ru_maxrss * 1024) / MB, 1),
                           stdout=out.text(), stderr=err.text(), stdout_bytes=out.total, stderr_bytes=err.total)
    _decode_status(result, status)
    result.killed_by = _killed_by(result, spec, flags, watchdog.tripped)
    if leftovers and result.killed_by is None and not any(flags.values()):
        result.stderr += f"\n[sandbox: killed {len(leftovers)} process(es) left running after the program exited]"
    return result


def _tmp_bytes(spec: ProgramSpec) -> int:
    return (spec.tmp_mb if spec.tmp_mb is not None else spec.memory_mb) * MB


def _decode_status(result: ProgramResult, status: int) -> None:
    sig = None
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
    else:
        code = os.WEXITSTATUS(status)
        # bwrap and the shell report a program killed by signal N as exit status 128 + N.
        if 128 < code < 128 + 65:
            sig = code - 128
        else:
            result.exit_code = code
    if sig is not None:
        result.exit_code = -sig
        try:
            result.signal = signal.Signals(sig).name
        except ValueError:
            result.signal = f"signal {sig}"


def _killed_by(result: ProgramResult, spec: ProgramSpec, flags: dict[str, bool], tripped: str | None):
    if flags["timeout"]:
        return "timeout"
    if tripped:
        return tripped
    if flags["output"]:
        return "output"
    if result.signal == "SIGXCPU" or (result.signal == "SIGKILL" and result.cpu_s >= spec.cpu_s):
        return "cpu"
    if result.signal == "SIGXFSZ":
        return "file_size"
    if result.exit_code == 0:
        return None
    tail = result.stderr[-4000:]
    if "MemoryError" in tail or "Cannot allocate memory" in tail:
        return "memory"
    if "File too large" in tail:
        return "file_size"
    if "No space left on device" in tail:
        return "disk"
    if "Resource temporarily unavailable" in tail and ("fork" in tail or "BlockingIOError" in tail):
        return "processes"
    return None
