"""The bubblewrap command line: namespaces, a read-only system, one writable dir.

Inside the sandbox the program sees /usr and /etc (or the parts of /etc the
spec names) read-only, its Python installation read-only at the same paths
(see `python_paths`), a private /tmp of a fixed size, /proc, a minimal /dev,
its working directory (the only writable place, at its real path so printed
paths mean something outside too) and each input read-only under
`inputs/<name>`. No network namespace is shared unless the spec allows it,
and a seccomp filter refuses new user namespaces (`seccomp`). Extra
read-only paths (the TeX tree) come from `spec.ro_binds`.

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

from labcoat.sandbox.limits import MB, prlimit_argv
from labcoat.sandbox.spec import NOBODY, ProgramSpec

SYSTEM_LINKS = ("/bin", "/lib", "/lib64", "/lib32", "/libx32", "/sbin")


PROBE = ("import sys;print('\\n'.join([sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, '--',"
         " *sys.path]))")


def python_paths(python: str) -> list[str]:
    """Directories an interpreter needs: its prefixes and the import path inside them (absolute, existing).

    Only the installation is bound: never the current directory (which `python -m` puts on the path),
    `PYTHONPATH` entries or `.pth` additions outside the prefixes, nor anything enclosing the current
    directory: a project folder holds `.env` files and other runs.
    """
    if os.path.realpath(python) == os.path.realpath(sys.executable):
        prefixes = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]
        path = list(sys.path)
    else:
        probe = subprocess.run([python, "-I", "-c", PROBE], capture_output=True, text=True, timeout=30, check=False)
        if probe.returncode != 0:
            from labcoat.errors import LabcoatError

            raise LabcoatError(f"the experiment interpreter {python} does not run: {probe.stderr.strip()[:300]}; "
                               "set sandbox.python to a working Python 3")
        prefixes, _, rest = probe.stdout.partition("--\n")
        prefixes, path = prefixes.splitlines(), rest.splitlines()
    roots = [os.path.realpath(p) for p in prefixes if p and os.path.isabs(p)]
    inside = [os.path.realpath(e) for e in path if e and os.path.isabs(e)]
    entries = [*roots, *(e for e in inside if any(_within(e, r) for r in roots)),
               str(Path(os.path.realpath(python)).parent)]
    cwd = os.path.realpath(os.getcwd())
    return _outermost(e for e in entries if os.path.exists(e) and not _within(cwd, e))


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


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
               interpreter_dirs: list[str], uid: int | None = None, seccomp_fd: int | None = None,
               extra_binds: list[str] | None = None) -> list[str]:
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
    if seccomp_fd is not None:
        argv += ["--seccomp", str(seccomp_fd)]
    for link in SYSTEM_LINKS:
        if os.path.islink(link):
            argv += ["--symlink", os.readlink(link), link]
        elif os.path.isdir(link):
            argv += ["--ro-bind", link, link]
    tmp_mb = spec.tmp_mb if spec.tmp_mb is not None else spec.memory_mb
    argv += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--size", str(tmp_mb * MB), "--tmpfs", "/tmp"]
    argv += gpu_args(spec.gpus)
    made: set[str] = {"/tmp", "/usr", "/proc", "/dev"}
    bound: list[str] = []
    if spec.etc is None:
        argv += ["--ro-bind", "/etc", "/etc"]
        made.add("/etc")
        bound.append("/etc")
    optional = [d for d in [*(spec.etc or []), *spec.ro_binds] if os.path.exists(d)]  # TeX trees vary
    for d in [*optional, *interpreter_dirs]:
        if _within(d, workdir) or d in ("/tmp", "/proc", "/dev") or any(_within(d, b) for b in bound):
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
        uid = NOBODY if uid is None else uid
        argv += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                 "--inh-caps=-all", "--bounding-set=-all", "--"]
    return [*argv, *program]
