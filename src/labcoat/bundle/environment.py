"""The environment programs ran in: interpreter, packages, labcoat, TeX, OS and hardware.

Package versions are read from the experiment interpreter itself (the one
`sandbox.python` names), not from labcoat's, because that is what the
programs imported. `requirements.lock` lists them as `name==version` lines
pip accepts; packages installed from a local folder (labcoat itself, an
editable checkout) cannot be pinned that way and are listed apart.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

PROBE = """
import json, platform, sys
from importlib import metadata
packages, local = {}, {}
for dist in metadata.distributions():
    name = dist.metadata["Name"]
    if not name:
        continue
    direct = dist.read_text("direct_url.json") or ""
    (local if '"file:' in direct else packages)[name.lower()] = dist.version
print(json.dumps({"python": platform.python_version(), "implementation": platform.python_implementation(),
                  "packages": dict(sorted(packages.items())), "local_packages": dict(sorted(local.items()))}))
"""


def _first_line(cmd: list[str]) -> str | None:
    if shutil.which(cmd[0]) is None:
        return None
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.strip().splitlines()[0] if out.strip() else None


def interpreter(python: str) -> dict[str, Any]:
    """Python version and installed distributions of the interpreter `python`."""
    clean = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "HOME")}
    try:
        done = subprocess.run([python, "-I", "-c", PROBE], capture_output=True, text=True, timeout=120,
                              check=True, env=clean)
        return json.loads(done.stdout)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        return {"python": None, "packages": {}, "local_packages": {}, "error": f"could not probe {python}: {exc}"}


def labcoat_source() -> dict[str, Any]:
    from importlib import metadata

    try:
        version = metadata.version("labcoat")
    except metadata.PackageNotFoundError:
        version = None
    here = Path(__file__).resolve().parent
    commit = None
    if shutil.which("git"):
        done = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=30, check=False)
        commit = done.stdout.strip() or None if done.returncode == 0 else None
    if commit:
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=30, check=False).stdout.strip()
        commit += "+changes" if dirty else ""
    return {"version": version, "commit": commit}


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text(encoding="utf-8").splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return platform.platform()


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _gpus() -> list[str]:
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=30, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [g.strip() for g in out.splitlines() if g.strip()]


def capture(python: str | None = None) -> dict[str, Any]:
    """The environment of this machine as the bundle records it."""
    probe = interpreter(python or sys.executable)
    return {
        "python": probe.get("python"),
        "python_executable": python or sys.executable,
        "packages": probe.get("packages", {}),
        "local_packages": probe.get("local_packages", {}),
        **({"probe_error": probe["error"]} if "error" in probe else {}),
        "labcoat": labcoat_source(),
        "tex": _first_line(["pdftex", "--version"]) or _first_line(["tex", "--version"]),
        "os": _os_name(),
        "kernel": platform.release(),
        "machine": platform.machine(),
        "cpu": _cpu(),
        "cpu_count": os.cpu_count(),
        "gpus": _gpus(),
    }


def requirements_lock(env: dict[str, Any]) -> str:
    lines = ["# The experiment environment's packages, as the bundle recorded them.",
             f"# Python {env.get('python')}; install with: pip install -r requirements.lock"]
    lines += [f"{name}=={version}" for name, version in sorted(env.get("packages", {}).items())]
    local = env.get("local_packages") or {}
    if local:
        lines.append("# Installed from a local folder, not pinnable here: "
                     + ", ".join(f"{n} {v}" for n, v in sorted(local.items())))
    return "\n".join(lines) + "\n"


def drift(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """What differs between the recorded environment and this one, one line each (empty: none)."""
    notes: list[str] = []
    if recorded.get("python") != current.get("python"):
        notes.append(f"Python {current.get('python')} here, {recorded.get('python')} recorded")
    old, new = recorded.get("packages") or {}, current.get("packages") or {}
    for name in sorted(old):
        if name not in new:
            notes.append(f"package {name} {old[name]} is not installed here")
        elif new[name] != old[name]:
            notes.append(f"package {name} {new[name]} here, {old[name]} recorded")
    rec_lab, cur_lab = recorded.get("labcoat") or {}, current.get("labcoat") or {}
    if rec_lab.get("version") != cur_lab.get("version"):
        notes.append(f"labcoat {cur_lab.get('version')} here, {rec_lab.get('version')} recorded")
    if recorded.get("cpu") != current.get("cpu"):
        notes.append(f"CPU {current.get('cpu')} here, {recorded.get('cpu')} recorded")
    if (recorded.get("gpus") or []) != (current.get("gpus") or []):
        notes.append(f"GPUs {current.get('gpus') or 'none'} here, {recorded.get('gpus') or 'none'} recorded")
    return notes
