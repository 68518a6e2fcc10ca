"""Kill -9 in the middle of an mle-solver step, resume, and get the uninterrupted journal.

The experiments phase runs in a child process (tests/support/mle_app.py)
against a ScriptedProvider in this process; the child is killed once some
candidates of step 1 are recorded and one (sleeping a few seconds) is not.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labcoat.run.runner import create_run, execute
from labcoat.run.services import attach
from labcoat.store import open_store

from tests.support.lab_services import LabScript, lab_config
from tests.support.mle_app import threshold_policy, workflow
from tests.support.scripted_provider import TEST_KEY, ScriptedProvider

REPO = Path(__file__).resolve().parents[1]
SAME = ("id", "step", "candidate", "operation", "parent", "repair_of", "code", "status", "metrics", "metric",
        "reward", "reward_rationale", "refusal", "reflection")
STEP1 = "running_experiments#0/mle/1/cand/"


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
    monkeypatch.setenv("LABCOAT_CACHE_DIR", str(tmp_path / "cache"))


def config(sp, httpserver):
    return lab_config(sp, httpserver, phases=[], seed=11, mle={"use_seeds": False},
                      budget={"mle_steps": 2, "mle_candidates": 4, "mle_repairs": 1, "mle_top_k": 2},
                      executor={"workers": 2}, sandbox={"timeout_s": 60, "memory_mb": 1024})


def exec_rows(run_dir: Path) -> dict[str, tuple[float, dict]]:
    with open_store(run_dir, readonly=True) as store:
        return {k: (ts, json.loads(result)) for k, ts, result
                in store.db.execute("SELECT key, ts, result FROM effects WHERE kind='exec'")}


def outputs(run_dir: Path, rows: dict[str, tuple[float, dict]]) -> dict[str, tuple[int, int]]:
    """(inode, mtime) of the metrics.json each recorded program wrote: a re-run would replace it."""
    found = {}
    for key, (_, result) in rows.items():
        st = os.stat(run_dir / result["workdir"] / "metrics.json")
        found[key] = (st.st_ino, st.st_mtime_ns)
    return found


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"  # a zombie has ended; only its reaping is left


def wait_gone(pids: list[int], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(running(p) for p in pids):
            return True
        time.sleep(0.05)
    return False


def journal(run_dir: Path) -> list[dict]:
    with open_store(run_dir, readonly=True) as store:
        assert store.info().state == "finished", store.info().message
        assert store.db.execute("SELECT COUNT(*) FROM effects_superseded").fetchone()[0] == 0
        return [{k: n[k] for k in SAME} for n in store.artefact("running_experiments")["data"]["journal"]]


def test_kill_mid_step_then_resume_reruns_nothing_and_matches_an_uninterrupted_run(tmp_path, httpserver, env):
    killed_script = LabScript({"running_experiments": threshold_policy()})
    with ScriptedProvider(killed_script) as sp:
        run_dir = create_run(config(sp, httpserver), tmp_path / "killed")
        child = subprocess.Popen([sys.executable, "-m", "tests.support.mle_app", str(run_dir)], cwd=REPO,
                                 env={**os.environ, "OPENAI_API_KEY": TEST_KEY})
        try:
            deadline = time.monotonic() + 120
            step1: list[str] = []
            while time.monotonic() < deadline and child.poll() is None:
                if (run_dir / "run.db").exists():
                    step1 = [k for k in exec_rows(run_dir) if k.startswith(STEP1)]
                    if step1:
                        break
                time.sleep(0.05)
            assert step1, f"no candidate of step 1 was recorded (child exit {child.poll()})"
            workers = children_of(child.pid)
            child.send_signal(signal.SIGKILL)
            child.wait(10)
            # its executor's workers (and the program one was running) go with it
            assert workers and wait_gone(workers, 5), f"workers {workers} outlived the killed run"
        finally:
            if child.poll() is None:
                child.kill()
                child.wait(10)
        before = exec_rows(run_dir)
        recorded_step1 = sorted(k for k in before if k.startswith(STEP1))
        # killed mid-step: the slow candidate 0 was still running, others had finished
        assert recorded_step1 and f"{STEP1}0/run/0" not in recorded_step1, recorded_step1
        assert not any(k.endswith("/final/test") for k in before)
        written = outputs(run_dir, before)
        calls_before = len(killed_script.calls)

        ctx = execute(run_dir, workflow, attach=attach, resumed=True)
        assert ctx.failure is None, ctx.failure

    after = exec_rows(run_dir)
    # no finished program ran again: same rows, same timestamps, same files on disk
    assert {k: ts for k, (ts, _) in after.items() if k in before} == {k: ts for k, (ts, _) in before.items()}
    assert outputs(run_dir, before) == written
    assert f"{STEP1}0/run/0" in after and any(k.endswith("/final/test") for k in after)
    resumed = journal(run_dir)

    straight_script = LabScript({"running_experiments": threshold_policy()})
    with ScriptedProvider(straight_script) as sp:
        straight_dir = create_run(config(sp, httpserver), tmp_path / "straight")
        ctx = execute(straight_dir, workflow, attach=attach)
        assert ctx.failure is None, ctx.failure
    straight = journal(straight_dir)

    assert [n["id"] for n in resumed] == [n["id"] for n in straight]
    assert resumed == straight
    assert len({n["code"] for n in straight if n["step"] == 1}) == 4  # four different candidates
    assert sorted(after) == sorted(exec_rows(straight_dir))
    # nor was any model call made twice: killed + resumed asked exactly what one run asks
    assert len(killed_script.calls) == len(straight_script.calls) > calls_before
