"""What of the host a program sees when labcoat is started as `python -m labcoat` from a project folder.

Judged by the program's own attempts: it looks for the project's `.env`, a `PYTHONPATH` entry's file and
the run stores beside its workdir; none of their content may appear in anything it leaves.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from labcoat.sandbox.bwrap import python_paths

pytestmark = [pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed"),
              pytest.mark.timeout(120)]

CANARY = "CANARY-7f3a91-do-not-leak"

PROGRAM = r'''
import os, sys
targets = {targets!r}
for path in targets:
    try:
        with open(path) as f:
            print("READ", path, f.read())
    except OSError as exc:
        print("DENIED", path, type(exc).__name__)
for d in {dirs!r}:
    try:
        print("LIST", d, os.listdir(d))
    except OSError as exc:
        print("NOLIST", d, type(exc).__name__)
print("PATH", sys.path)
'''


def test_python_m_labcoat_from_a_project_folder_shows_the_program_none_of_it(tmp_path):
    project = tmp_path / "project"
    (project / "runs" / "other").mkdir(parents=True)
    env_file = project / ".env"
    env_file.write_text(f"OPENAI_API_KEY={CANARY}\n")
    env_file.chmod(0o600)
    (project / "runs" / "other" / "run.db").write_text(CANARY)
    extra = tmp_path / "pythonpath"
    extra.mkdir()
    (extra / "secret_module.py").write_text(f"TOKEN = {CANARY!r}\n")
    targets = [str(env_file), str(project / "runs" / "other" / "run.db"), str(extra / "secret_module.py")]
    program = project / "probe.py"
    program.write_text(PROGRAM.format(targets=targets, dirs=[str(project), str(project / "runs"), str(extra)]))
    workdir = project / "runs" / "mine" / "exec"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env["PYTHONPATH"] = os.pathsep.join([str(extra), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    done = subprocess.run([sys.executable, "-m", "labcoat", "exec", "probe.py", "--workdir", str(workdir)],
                          cwd=project, env=env, capture_output=True, text=True, timeout=100)
    assert '"exit_code": 0' in done.stdout, done.stdout + done.stderr
    leaked = [p for p in workdir.rglob("*") if p.is_file() and CANARY in p.read_text(errors="replace")]
    assert CANARY not in done.stdout + done.stderr and not leaked
    assert done.stdout.count("DENIED") == 3  # the program did try


def test_the_interpreter_binds_are_its_installation_only(tmp_path, monkeypatch):
    outside = tmp_path / "outside"
    outside.mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [str(tmp_path), str(outside), *sys.path])
    dirs = python_paths(sys.executable)
    assert not any(str(tmp_path) == d or str(tmp_path).startswith(d + "/") or d.startswith(str(tmp_path))
                   for d in dirs), dirs
    assert os.path.realpath(sys.prefix) in dirs or os.path.realpath(sys.prefix).startswith("/usr")
