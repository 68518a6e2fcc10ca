"""The bubblewrap command line: namespaces, a read-only system, one writable dir.

Inside the sandbox the program sees /usr and /etc read-only, its Python
installation read-only at the same paths, a private /tmp, /proc, a minimal
/dev, its working directory (the only writable place, at its real path so
printed paths mean something outside too) and each input read-only under
`inputs/<name>`. No network namespace is shared unless the spec allows it.

Run as root, bwrap sets up the namespaces (no user namespace needed) and
`setpriv` then drops the program to an unprivileged uid with no capabilities:
the kernel does not enforce RLIMIT_NPROC for root, and a uid-0 program could
read /etc/shadow. Run as a normal user, bwrap makes a user namespace itself.

GPU path (cannot be exercised without NVIDIA hardware): the device files
/dev/nvidia* are bound and CUDA_VISIBLE_DEVICES names the granted GPUs; the
address-space rlimit is left off (see limits.prlimit_argv).
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
from pathlib import Path

from labcoat.sandbox.limits import prlimit_argv
from labcoat.sandbox.spec import ProgramSpec

SYSTEM_LINKS = ("/bin", "/lib", "/lib64", "/lib32", "/libx32", "/sbin")


def python_paths(python: str) -> list[str]:
    """Directories an interpreter needs: its prefixes and import path (absolute, existing)."""
    if os.path.realpath(python) == os.path.realpath(sys.executable):
        entries = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, *sys.path]
    else:
        probe = subprocess.run(
            [python, "-I", "-c", "import sys;print('\\n'.join([sys.prefix, sys.base_prefix, sys.exec_prefix,"
                                 " sys.base_exec_prefix, *sys.path]))"],
            capture_output=True, text=True, timeout=30, check=False)
        if probe.returncode != 0:
            from labcoat.errors import LabcoatError

            raise LabcoatError(f"the experiment interpreter {python} does not run: {probe.stderr.strip()[:300]}; "
                               "set sandbox.python to a working Python 3")
        entries = probe.stdout.splitlines()
    entries.append(str(Path(os.path.realpath(python)).parent))
    return _outermost(os.path.realpath(e) for e in entries if e and os.path.isabs(e) and os.path.exists(e))


def _outermost(paths) -> list[str]:
    """Drop paths inside another listed path, and anything under /usr (mounted anyway)."""
    keep: list[str] = []
    for p in sorted(set(paths), key=len):
        if p == "/" or p == "/usr" or p.startswith("/usr/"):
            continue
        if not any(p == k or p.startswith(k.rstrip("/") + "/") for k in keep):
            keep.append(p)
    return sorted(keep)


def _dirs_to(path: str, made: set[str], bound: list[str]) -> list[str]:
    """`--dir` each missing ancestor of `path` with mode 0755 (bwrap would make them 0700)."""
    args: list[str] = []
    parts = Path(path).parts[1:-1]
    cur = ""
    for part in parts:
        cur += "/" + part
        if cur in made or any(cur.startswith(b + "/") for b in bound):
            continue
        made.add(cur)
        args += ["--perms", "0755", "--dir", cur]
    return args


def gpu_args(gpus: list[int], devices: list[str] | None = None) -> list[str]:
    """Bind the NVIDIA device files (the granted GPUs and the shared control nodes)."""
    if not gpus:
        return []
    args: list[str] = []
    wanted = {f"/dev/nvidia{i}" for i in gpus}
    for dev in sorted(glob.glob("/dev/nvidia*") if devices is None else devices):
        numbered = dev[len("/dev/nvidia"):].isdigit()
        if numbered and dev not in wanted:
            continue
        args += ["--dev-bind", dev, dev]
    return args


def bwrap_argv(spec: ProgramSpec, program: list[str], *, bwrap: str, as_root: bool,
               interpreter_dirs: list[str], extra_binds: list[str] | None = None) -> list[str]:
    """The full command: bwrap [namespaces, mounts] -- prlimit ... [setpriv ...] program."""
    workdir = os.path.realpath(spec.workdir)
    if as_root:
        # Root needs no user namespace; setpriv below drops to an unprivileged uid.
        ns = ["--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"]
        if not spec.network:
            ns.append("--unshare-net")
    else:
        ns = ["--unshare-all"] + (["--share-net"] if spec.network else [])
    argv = [bwrap, *ns, "--die-with-parent", "--hostname", "sandbox", "--ro-bind", "/usr", "/usr"]
    for link in SYSTEM_LINKS:
        if os.path.islink(link):
            argv += ["--symlink", os.readlink(link), link]
        elif os.path.isdir(link):
            argv += ["--ro-bind", link, link]
    argv += ["--ro-bind", "/etc", "/etc", "--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp"]
    argv += gpu_args(spec.gpus)
    made: set[str] = {"/tmp", "/usr", "/etc", "/proc", "/dev"}
    bound: list[str] = []
    for d in interpreter_dirs:
        if d == workdir or d.startswith(workdir + "/") or d in ("/tmp", "/proc", "/dev", "/etc"):
            continue
        argv += _dirs_to(d, made, bound) + ["--ro-bind", d, d]
        made.add(d)
        bound.append(d)
    argv += _dirs_to(workdir, made, bound) + ["--bind", workdir, workdir]
    for name, src in sorted(spec.inputs.items()):
        argv += ["--ro-bind", os.path.realpath(src), f"{workdir}/inputs/{name}"]
    argv += list(extra_binds or [])
    argv += ["--chdir", workdir, "--", *prlimit_argv(spec, "/usr/bin/prlimit" if os.path.exists("/usr/bin/prlimit")
                                                      else "prlimit")]
    if as_root:
        argv += ["setpriv", f"--reuid={spec.uid}", f"--regid={spec.uid}", "--clear-groups",
                 "--inh-caps=-all", "--bounding-set=-all", "--"]
    return [*argv, *program]
