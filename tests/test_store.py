"""The run store: replay divergence, readers beside a writer, migrations, effect rules."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from labcoat.errors import BudgetExceeded, LabcoatError, StoreError
from labcoat.run.runner import create_run, execute
from labcoat.store import RunStore, list_runs
from labcoat.store.migrations import MIGRATIONS
from labcoat.workflow import Phase, Workflow
from tests.support import pipeline_app

CANDIDATE_KEY = "running_experiments#0/step/{step}/cand/{cand}/sandbox"


def _finished_pipeline(tmp_path: Path) -> tuple[Path, Path]:
    run_dir, counter = tmp_path / "run", tmp_path / "counter.log"
    create_run(pipeline_app.config(), run_dir=run_dir)
    ctx = pipeline_app.run(run_dir, counter, resumed=False)
    assert ctx.failure is None and ctx.effects.executed == 39
    return run_dir, counter


def _snapshot(run_dir: Path) -> tuple[list[dict], list[dict], dict[str, str]]:
    with RunStore(run_dir, readonly=True) as store:
        effects = {r["key"]: r["request_hash"] for r in store.db.execute("SELECT key, request_hash FROM effects")}
        return store.events(), store.lifecycle(), effects


def test_changed_config_diverges_at_the_first_changed_request_then_runs_live(tmp_path: Path) -> None:
    run_dir, counter = _finished_pipeline(tmp_path)
    before, _, before_effects = _snapshot(run_dir)
    first_candidate = next(e["pos"] for e in before if e["kind"] == "candidate")

    ctx = pipeline_app.run(run_dir, counter, overrides=["budget.mle_candidates=4"])

    assert ctx.failure is None
    diverged_key = CANDIDATE_KEY.format(step=0, cand=0)
    assert ctx.effects.diverged_at == diverged_key
    # 12 searches, 8 plan turns and 3 gates come from the store; 5 steps x 4
    # candidates and the experiments gate (its summary changed) run live.
    assert (ctx.effects.replayed, ctx.effects.executed) == (23, 21)
    after, lifecycle, after_effects = _snapshot(run_dir)
    diverged = [e for e in lifecycle if e["kind"] == "replay_diverged"]
    assert len(diverged) == 1 and diverged[0]["payload"]["key"] == diverged_key
    assert "config_changed" in [e["kind"] for e in lifecycle]
    # The transcript up to the divergence is untouched (same timestamps: not rewritten) ...
    assert after[:first_candidate] == before[:first_candidate]
    # ... and the tail is the new run's, with nothing stale left behind.
    assert [e["pos"] for e in after] == list(range(len(after)))
    candidates = [e["payload"] for e in after if e["kind"] == "candidate"]
    assert [(c["step"], c["cand"]) for c in candidates] == [(s, c) for s in range(5) for c in range(4)]
    assert after[-1]["kind"] == "run_end"
    assert set(after_effects) == set(before_effects) | {CANDIDATE_KEY.format(step=s, cand=3) for s in range(5)}
    for key, digest in before_effects.items():
        changed = key.startswith("running_experiments#0/")
        assert (after_effects[key] != digest) == changed, key
    with RunStore(run_dir, readonly=True) as store:
        superseded = {r[0] for r in store.db.execute("SELECT key FROM effects_superseded")}
        assert store.artefact("running_experiments")["data"]["best"] == ctx.artefacts["running_experiments"]["best"]
    assert superseded == {k for k in before_effects if k.startswith("running_experiments#0/")}
    scores = (run_dir / "running_experiments" / "scores.txt").read_text().split()
    assert [float(s) for s in scores] == ctx.artefacts["running_experiments"]["best"]


def test_shorter_run_after_divergence_leaves_no_stale_events(tmp_path: Path) -> None:
    run_dir, counter = _finished_pipeline(tmp_path)
    before, _, _ = _snapshot(run_dir)
    ctx = pipeline_app.run(run_dir, counter, overrides=["budget.mle_candidates=1"])
    assert ctx.failure is None
    after, _, _ = _snapshot(run_dir)
    assert len(after) == len(before) - 10  # 5 steps lost 2 candidate events each
    assert [e["pos"] for e in after] == list(range(len(after)))
    assert after[-1]["kind"] == "run_end"
    assert [e["kind"] for e in after].count("run_end") == 1


def test_run_that_diverges_then_pauses_keeps_no_events_from_the_old_path(tmp_path: Path) -> None:
    def steps(ctx):
        for i in range(10):
            if ctx.config.seed == 1 and i == 3:
                raise BudgetExceeded("cap reached")
            out = ctx.effects.run("tool", ctx.key("step", i), {"i": i, "seed": ctx.config.seed}, lambda i=i: i)
            ctx.emit("tool_result", {"i": out})  # the same on both paths: only the requests differ
        return {}

    run_dir, ctx = _plain_run(tmp_path, steps)
    assert ctx.failure is None
    factory = lambda config: Workflow([Phase("literature_review", steps)])  # noqa: E731
    ctx = execute(run_dir, factory, overrides=["seed=1"], resumed=True)
    with RunStore(run_dir, readonly=True) as store:
        assert store.info().state == "paused"
        events = store.events()
    assert ctx.effects.diverged_at == "literature_review#0/step/0"
    assert [e["kind"] for e in events] == ["run_start", "phase_start"] + ["tool_result"] * 3


def test_resume_without_changes_replays_everything_and_runs_nothing(tmp_path: Path) -> None:
    run_dir, counter = _finished_pipeline(tmp_path)
    lines = counter.read_text().count("\n")
    before, _, _ = _snapshot(run_dir)
    ctx = pipeline_app.run(run_dir, counter)
    assert (ctx.effects.replayed, ctx.effects.executed, ctx.effects.diverged_at) == (39, 0, None)
    assert counter.read_text().count("\n") == lines
    assert _snapshot(run_dir)[0] == before


def _plain_run(tmp_path: Path, phase_fn) -> tuple[Path, object]:
    run_dir = create_run(pipeline_app.config(), run_dir=tmp_path / "plain")
    ctx = execute(run_dir, lambda config: Workflow([Phase("literature_review", phase_fn)]), resumed=False)
    return run_dir, ctx


def test_effect_key_used_twice_fails_the_run_with_the_key_named(tmp_path: Path) -> None:
    def twice(ctx):
        ctx.effects.run("tool", ctx.key("same"), {"a": 1}, lambda: 1)
        ctx.effects.run("tool", ctx.key("same"), {"a": 2}, lambda: 2)

    run_dir, ctx = _plain_run(tmp_path, twice)
    assert isinstance(ctx.failure, StoreError) and "literature_review#0/same" in str(ctx.failure)
    with RunStore(run_dir, readonly=True) as store:
        info = store.info()
    assert info.state == "failed" and "used twice" in info.message


def test_failed_effect_is_not_recorded_and_runs_again_on_resume(tmp_path: Path) -> None:
    calls: list[int] = []

    def flaky(ctx):
        def fn():
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError("provider hiccup")
            return {"values": (1, 2)}
        return ctx.effects.run("llm", ctx.key("call"), {"q": "x"}, fn)

    run_dir, ctx = _plain_run(tmp_path, flaky)
    assert isinstance(ctx.failure, RuntimeError)
    with RunStore(run_dir, readonly=True) as store:
        assert store.effect_count() == 0 and store.info().state == "failed"
        assert "provider hiccup" in store.lifecycle()[-1]["payload"]["traceback"]
    factory = lambda config: Workflow([Phase("literature_review", flaky)])  # noqa: E731
    ctx = execute(run_dir, factory, resumed=True)
    assert ctx.failure is None and len(calls) == 2
    # Live results go through JSON exactly as replayed ones do (a tuple becomes a list).
    assert ctx.artefacts["literature_review"] == {"values": [1, 2]}
    ctx = execute(run_dir, factory, resumed=True)
    assert ctx.artefacts["literature_review"] == {"values": [1, 2]} and len(calls) == 2


def test_second_writer_is_refused_while_the_first_is_alive(tmp_path: Path) -> None:
    run_dir = create_run(pipeline_app.config(), run_dir=tmp_path / "busy")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with RunStore(run_dir) as store:
            store.set_state("running", pid=sleeper.pid)
        with pytest.raises(LabcoatError, match=f"being run by process {sleeper.pid}"):
            execute(run_dir, lambda config: Workflow([]))
    finally:
        sleeper.kill()
        sleeper.wait(timeout=10)
    with RunStore(run_dir, readonly=True) as store:
        assert store.info().shown_state == "stopped"
    ctx = execute(run_dir, lambda config: Workflow([]), resumed=True)
    assert ctx.failure is None


def test_a_reused_pid_does_not_make_a_dead_run_look_alive(tmp_path: Path) -> None:
    run_dir = create_run(pipeline_app.config(), run_dir=tmp_path / "reused")
    with RunStore(run_dir) as store:
        store.set_state("running", pid=os.getpid())
        store.db.execute("UPDATE runs SET heartbeat=heartbeat-86400*365")  # state written long before we started
        info = store.info()
    assert not info.alive and info.shown_state == "stopped"


def test_migrations_apply_once_and_a_newer_store_is_refused(tmp_path: Path) -> None:
    with RunStore(tmp_path) as store:
        names = [r[0] for r in store.db.execute("SELECT name FROM _migrations ORDER BY rowid")]
        assert names == [name for name, _ in MIGRATIONS]
        store.db.execute("INSERT INTO _migrations (name, applied_at) VALUES ('m999_from_the_future', 0)")
    with pytest.raises(StoreError, match="newer labcoat.*m999_from_the_future"):
        RunStore(tmp_path)


def test_a_file_that_is_not_a_store_is_reported_not_crashed(tmp_path: Path) -> None:
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "run.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a readable labcoat run store"):
        RunStore(tmp_path / "bad")
    [item] = list_runs(tmp_path)
    assert isinstance(item, tuple) and item[0] == tmp_path / "bad"


# -- readers beside a writer --------------------------------------------------

WRITER = textwrap.dedent("""
    import sys
    from labcoat.workflow.context import EventLog
    from labcoat.store import Effects, RunStore

    run_dir, n = sys.argv[1], int(sys.argv[2])
    with RunStore(run_dir) as store:
        effects, events = Effects(store), EventLog(store)
        for i in range(n):
            result = effects.run("tool", f"step/{i}", {"i": i}, lambda i=i: {"i": i, "text": "x" * (i % 300)})
            events.emit("tool_result", {"i": result["i"]}, phase="running_experiments")
            if i % 50 == 49:
                store.put_artefact("progress", "dict", {"done": i + 1}, phase="running_experiments")
                store.set_state("running", phase="running_experiments", message=f"{i + 1} steps")
    print("done")
""")

READER = textwrap.dedent("""
    import json, sys
    from labcoat.store import RunStore
    run_dir, done_flag = sys.argv[1], sys.argv[2]
    import os
    checks = 0
    while True:
        finished = os.path.exists(done_flag)
        with RunStore(run_dir, readonly=True) as store, store.snapshot():
            events = store.events()
            rows = store.db.execute("SELECT key, result FROM effects").fetchall()
            assert [e["pos"] for e in events] == list(range(len(events))), "gap in event positions"
            assert len(events) <= len(rows) <= len(events) + 1, (len(events), len(rows))
            for key, result in rows:
                assert json.loads(result)["i"] == int(key.split("/")[1])
            store.info()
        checks += 1
        if finished:
            break
    print(checks)
""")


def _reader_thread(run_dir: Path, stop: threading.Event, errors: list[str], counts: list[int]) -> None:
    checks = 0
    try:
        with RunStore(run_dir, readonly=True) as store:  # one long-lived connection per reader
            while True:
                last = stop.is_set()
                with store.snapshot():
                    events = store.events(phase="running_experiments")
                    n_effects = store.effect_count()
                    progress = store.artefact("progress")
                    assert [e["pos"] for e in events] == list(range(len(events))), "gap in event positions"
                    assert len(events) <= n_effects <= len(events) + 1, (len(events), n_effects)
                    if progress is not None:
                        assert progress["data"]["done"] <= len(events)
                    for row in store.db.execute("SELECT result FROM effects ORDER BY ts DESC LIMIT 20"):
                        json.loads(row[0])
                list_runs(run_dir.parent)
                checks += 1
                if last:
                    break
    except (AssertionError, sqlite3.Error, StoreError) as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
    counts.append(checks)


@pytest.mark.timeout(180)
def test_readers_never_block_the_writer_nor_see_torn_state(tmp_path: Path) -> None:
    n = 2000
    run_dir = create_run(pipeline_app.config(), run_dir=tmp_path / "busy")
    done_flag = tmp_path / "writer-done"
    stop = threading.Event()
    errors: list[str] = []
    counts: list[int] = []
    threads = [threading.Thread(target=_reader_thread, args=(run_dir, stop, errors, counts)) for _ in range(3)]
    for t in threads:
        t.start()
    reader = subprocess.Popen([sys.executable, "-c", READER, str(run_dir), str(done_flag)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started = time.monotonic()
    writer = subprocess.run([sys.executable, "-c", WRITER, str(run_dir), str(n)],
                            capture_output=True, text=True, timeout=150)
    elapsed = time.monotonic() - started
    done_flag.write_text("1")
    stop.set()
    for t in threads:
        t.join(timeout=60)
    out, err = reader.communicate(timeout=60)
    assert writer.returncode == 0, writer.stderr
    assert "locked" not in writer.stderr
    assert reader.returncode == 0, err
    assert not errors, errors
    assert len(counts) == 3 and all(c > 1 for c in counts), counts
    assert int(out.strip()) > 1
    with RunStore(run_dir, readonly=True) as store:
        assert store.effect_count() == n and len(store.events()) == n
    assert elapsed < 150


def test_replay_benchmark_runs_and_replays_everything() -> None:
    bench = Path(__file__).resolve().parents[1] / "bench" / "replay.py"
    proc = subprocess.run([sys.executable, str(bench), "--effects", "300"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    name, value = last.split(": ")
    assert name == "ratio" and float(value) > 0


def test_replay_reads_ahead_in_batches_and_still_serves_each_key_its_own_row(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from labcoat.workflow.context import EventLog
    from labcoat.store import Effects, effects as effects_module

    monkeypatch.setattr(effects_module, "READ_AHEAD", 3)
    monkeypatch.setattr(EventLog, "READ_AHEAD", 4)
    with RunStore(tmp_path) as store:
        live, log = Effects(store), EventLog(store)
        for i in range(10):
            log.emit("step", {"i": live.run("tool", f"k/{i}", {"i": i}, lambda i=i: i * i)})
        first = store.events()
        # Replayed out of order: every key still gets its own recorded result.
        again, log = Effects(store), EventLog(store)
        order = [9, 0, 1, 2, 5, 4, 3, 8, 7, 6]
        assert [again.run("tool", f"k/{i}", {"i": i}, lambda: -1) for i in order] == [i * i for i in order]
        assert again.executed == 0
        for i in range(10):
            log.emit("step", {"i": i * i})
        assert store.events() == first  # identical events are not rewritten (same timestamps)
        # A different event mid-way replaces the tail; later events are written fresh.
        log = EventLog(store)
        for i in range(6):
            log.emit("step", {"i": i * i if i < 5 else "changed"})
        log.emit("step", {"i": "after"})
        events = store.events()
    assert events[:5] == first[:5]
    assert [e["payload"]["i"] for e in events[5:]] == ["changed", "after"]


def test_a_phase_run_again_drops_what_its_earlier_attempt_warned(tmp_path: Path) -> None:
    """The run's summary lists the warnings that still hold: a revisited phase says again what applies."""
    from labcoat.workflow import Revisit

    def writing(ctx):
        ctx.warn(f"draft {ctx.attempt} has 3 integrity errors" if ctx.attempt == 0 else "fixed draft compiled late")
        return {}

    def refinement(ctx):
        ctx.warn(f"refinement attempt {ctx.attempt}")
        if ctx.attempt == 0:
            raise Revisit("report_writing", "fix the numbers")
        return {}

    run_dir = create_run(pipeline_app.config(), run_dir=tmp_path / "warned")
    ctx = execute(run_dir, lambda config: Workflow([Phase("literature_review", lambda c: c.warn("no arXiv") or {}),
                                                    Phase("report_writing", writing),
                                                    Phase("report_refinement", refinement)]), resumed=False)
    assert ctx.failure is None
    assert ctx.warnings == ["no arXiv", "fixed draft compiled late", "refinement attempt 1"]
    with RunStore(run_dir, readonly=True) as store:  # the events keep every warning ever given
        said = [e["payload"]["message"] for e in store.events(kinds=["warning"])]
    assert "draft 0 has 3 integrity errors" in said and "refinement attempt 0" in said
