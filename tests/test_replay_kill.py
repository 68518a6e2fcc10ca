"""Resume = replay, proved by killing a real pipeline process with SIGKILL.

The pipeline (tests/support/pipeline_app.py) runs sequential, gated and
parallel effects; each live execution leaves start/end markers in a counter
log outside the store. After every kill the test notes which keys the store
holds, so it can tell precisely which executions a kill cut short: only those
may run again, and at most once more each.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from labcoat.store import RunStore
from tests.support import pipeline_app

APP = Path(pipeline_app.__file__)
DELAY = 0.04  # seconds per live effect: about 1.2 s of live work, more than 15 short kills get through


def _start(run_dir: Path, counter: Path, *, create: bool = False) -> subprocess.Popen:
    cmd = [sys.executable, str(APP), str(run_dir), str(counter), "--delay", str(DELAY)]
    if create:
        cmd.append("--create")
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, f"pipeline failed ({proc.returncode}):\n{out}\n{err}"
    return out


def _wait_ready(proc: subprocess.Popen) -> bool:
    """Block until the program has imported everything and starts the run."""
    assert proc.stdout is not None
    line = proc.stdout.readline()
    return line.strip() == "ready"


def _markers(counter: Path) -> list[tuple[str, str]]:
    if not counter.exists():
        return []
    return [tuple(line.split(" ", 1)) for line in counter.read_text().splitlines() if line]  # type: ignore[misc]


def _recorded(run_dir: Path) -> set[str]:
    with RunStore(run_dir, readonly=True) as store:
        return {r[0] for r in store.db.execute("SELECT key FROM effects")}


def _transcript(run_dir: Path) -> tuple[list[tuple], list[tuple], dict[str, str]]:
    with RunStore(run_dir, readonly=True) as store:
        events = [(e["pos"], e["phase"], e["kind"], e["payload"]) for e in store.events()]
        artefacts = [(a["name"], a["phase"], a["kind"], a["data"], a["files"]) for a in store.artefacts()]
    files = {str(p.relative_to(run_dir)): p.read_text()
             for p in sorted(run_dir.rglob("*")) if p.is_file() and not p.name.startswith("run.db")}
    return events, sorted(artefacts, key=lambda a: a[0]), files


def _reference(tmp_path: Path) -> tuple[tuple, Counter]:
    run_dir, counter = tmp_path / "reference", tmp_path / "reference.log"
    proc = _start(run_dir, counter, create=True)
    assert _finish(proc).strip().endswith("finished")
    starts = Counter(k for what, k in _markers(counter) if what == "start")
    return _transcript(run_dir), starts


@pytest.mark.timeout(240)
def test_killed_at_random_points_and_resumed_matches_uninterrupted_run(tmp_path: Path) -> None:
    reference, reference_starts = _reference(tmp_path)
    assert all(n == 1 for n in reference_starts.values())
    assert len(reference_starts) == 39  # 12 searches, 2x4 plan turns, 5x3 candidates, 4 gates

    rng = random.Random(20250125)
    run_dir, counter = tmp_path / "killed", tmp_path / "killed.log"
    recorded: set[str] = set()  # keys in the store before the current attempt
    allowed_again: Counter = Counter()  # executions cut by a kill (may run once more)
    kills = 0
    cut_keys: set[str] = set()
    finished = False
    for attempt in range(40):
        seen_before = len(_markers(counter))
        proc = _start(run_dir, counter, create=(attempt == 0))
        if kills < 20:
            assert _wait_ready(proc)
            time.sleep(rng.uniform(0.0, 0.08))
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            if proc.returncode == -signal.SIGKILL:
                kills += 1
            elif proc.returncode == 0:
                finished = True
        else:
            out = _finish(proc)
            finished = out.strip().endswith("finished")
        if not (run_dir / "run.db").exists():
            continue  # killed before the run was created: nothing happened yet
        markers = _markers(counter)[seen_before:]
        now_recorded = _recorded(run_dir)
        started = Counter(k for what, k in markers if what == "start")
        ended = {k for what, k in markers if what == "end"}
        for key, n in started.items():
            if key in now_recorded:
                assert key in ended, f"attempt {attempt}: {key} was recorded before its work completed"
            # A key recorded before this attempt must have been replayed, not run.
            assert key not in recorded, f"attempt {attempt}: recorded effect {key} ran live again"
            assert n == 1, f"attempt {attempt}: {key} ran {n} times in one process"
            if key not in now_recorded:
                allowed_again[key] += 1  # the kill cut it before its result was stored
                cut_keys.add(key)
        recorded = now_recorded
        if finished:
            break
    assert finished, "the run never finished"
    assert kills >= 15, f"only {kills} kills landed; the test did not exercise resume"
    assert cut_keys, "no kill landed inside an effect; the delays are too short to test cuts"

    all_starts = Counter(k for what, k in _markers(counter) if what == "start")
    assert set(all_starts) == set(reference_starts)
    for key, n in all_starts.items():
        assert n == 1 + allowed_again[key], f"{key} ran {n} times live (cut {allowed_again[key]} times)"

    assert _transcript(run_dir) == reference
    with RunStore(run_dir, readonly=True) as store:
        info = store.info()
        kinds = [e["kind"] for e in store.lifecycle()]
    assert info.state == "finished"
    assert kinds.count("resumed") >= kills
    assert "replay_diverged" not in kinds


def test_killed_run_shows_as_stopped_and_resumes(tmp_path: Path) -> None:
    run_dir, counter = tmp_path / "run", tmp_path / "run.log"
    proc = _start(run_dir, counter, create=True)
    assert _wait_ready(proc)
    deadline = time.monotonic() + 30
    # An effect's "end" marker is written before its result is committed: wait
    # for the store to hold one, so the kill leaves something to replay.
    while not ((run_dir / "run.db").exists() and _recorded(run_dir)):
        assert time.monotonic() < deadline, "the pipeline never recorded an effect"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    with RunStore(run_dir, readonly=True) as store:
        info = store.info()
    assert info.state == "running" and info.shown_state == "stopped"
    ctx = pipeline_app.run(run_dir, counter)
    assert ctx.effects.replayed >= 1
    with RunStore(run_dir, readonly=True) as store:
        assert store.info().state == "finished"
