"""Sandbox runs as recorded effects: replay serves them, misses alone run, secrets stay out of the store."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
import textwrap
from pathlib import Path

import pytest

from labcoat.config.schema import ResearchConfig
from labcoat.workflow.context import EventLog, RunContext
from labcoat.executor import ProcessExecutor
from labcoat.executor.recorded import run_batch_in_sandbox, run_in_sandbox
from labcoat.sandbox import SandboxError
from labcoat.store import Effects, RunStore

pytestmark = pytest.mark.timeout(180)

NOISY = "import os\nprint(os.urandom(8).hex())\nopen('out.txt', 'w').write('x')\n"


def _ctx(run_dir, executor=None, **sandbox) -> RunContext:
    config = ResearchConfig(topic="sandbox memo", sandbox={"timeout_s": 30, "memory_mb": 1024, **sandbox})
    store = RunStore(run_dir)
    ctx = RunContext(config=config, store=store, run_id="r", run_dir=run_dir, effects=Effects(store),
                     events=EventLog(store), executor=executor)
    ctx.phase = "running_experiments"
    return ctx


def test_a_finished_program_is_served_on_resume_not_rerun(tmp_path):
    run_dir = tmp_path / "run"
    first = _ctx(run_dir)
    live = run_in_sandbox(first, first.key("step", 1, "run"), NOISY)
    assert live["exit_code"] == 0 and live["workdir"].startswith("exec/")
    assert live["files"] == [f"{live['workdir']}/out.txt"]
    out = run_dir / live["workdir"] / "out.txt"
    stamp = out.stat().st_mtime_ns
    first.store.close()

    resumed = _ctx(run_dir)
    again = run_in_sandbox(resumed, resumed.key("step", 1, "run"), NOISY)
    assert again == live  # same random output: the recorded result, not a new run
    assert (resumed.effects.replayed, resumed.effects.executed) == (1, 0)
    assert out.stat().st_mtime_ns == stamp
    resumed.store.close()


def test_changed_code_runs_live(tmp_path):
    run_dir = tmp_path / "run"
    first = _ctx(run_dir)
    run_in_sandbox(first, first.key("p"), "print(1)")
    first.store.close()
    second = _ctx(run_dir)
    result = run_in_sandbox(second, second.key("p"), "print(2)")
    assert result["stdout"] == "2\n" and second.effects.executed == 1
    second.store.close()


def test_batch_submits_only_the_misses_and_keeps_order(tmp_path):
    run_dir = tmp_path / "run"
    with ProcessExecutor(2) as pool:
        first = _ctx(run_dir, pool)
        done = run_in_sandbox(first, first.key("cand", 1), "print('one')")
        first.store.close()

        second = _ctx(run_dir, pool)
        jobs = [(second.key("cand", i), f"import os\nprint('{i}', os.environ['WHICH'])", {"WHICH": f"w{i}"})
                for i in range(3)]
        jobs[1] = (second.key("cand", 1), "print('one')", {})
        results = run_batch_in_sandbox(second, jobs)
    assert [r["stdout"] for r in results] == ["0 w0\n", "one\n", "2 w2\n"]
    assert results[1] == done
    assert (second.effects.replayed, second.effects.executed) == (1, 2)
    second.store.close()


def test_granted_key_reaches_the_program_but_not_the_store(tmp_path, monkeypatch):
    secret = "sk-granted-" + os.urandom(8).hex()
    monkeypatch.setenv("LABCOAT_TEST_KEY", secret)
    monkeypatch.setenv("OTHER_SECRET_KEY", "sk-other-" + os.urandom(8).hex())
    ctx = _ctx(tmp_path / "run", grant_env=["LABCOAT_TEST_KEY"])
    digest = hashlib.sha256(secret.encode()).hexdigest()
    code = textwrap.dedent(f"""
        import hashlib, os
        seen = hashlib.sha256(os.environ.get('LABCOAT_TEST_KEY', '').encode()).hexdigest()
        print(seen == {digest!r}, 'OTHER_SECRET_KEY' in os.environ)
    """)
    result = run_in_sandbox(ctx, ctx.key("llm-eval"), code)
    assert result["stdout"] == "True False\n"
    ctx.store.close()
    raw = (tmp_path / "run" / "run.db").read_bytes()
    assert secret.encode() not in raw
    db = sqlite3.connect(tmp_path / "run" / "run.db")
    request = json.loads(db.execute("select request from effects where kind='exec'").fetchone()[0])
    db.close()
    assert request["grant_env"] == ["LABCOAT_TEST_KEY"]


def test_inputs_are_recorded_relative_to_the_run(tmp_path):
    run_dir = tmp_path / "run"
    data = run_dir / "datasets" / "toy"
    data.mkdir(parents=True)
    (data / "x.txt").write_text("hello")
    ctx = _ctx(run_dir)
    result = run_in_sandbox(ctx, ctx.key("read"), "print(open('inputs/toy/x.txt').read())", inputs={"toy": str(data)})
    assert result["stdout"] == "hello\n"
    db = sqlite3.connect(run_dir / "run.db")
    request = json.loads(db.execute("select request from effects where kind='exec'").fetchone()[0])
    db.close()
    assert request["inputs"] == {"toy": "datasets/toy"}
    ctx.store.close()


@pytest.fixture
def no_bwrap(monkeypatch):
    """bwrap off PATH for labcoat; as root, a run dir and interpreter that uid 65534 can reach."""
    monkeypatch.setenv("PATH", "/nonexistent")
    root = Path(tempfile.mkdtemp(prefix="labcoat-memo-", dir="/tmp"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_rlimits_only_is_announced_loudly(no_bwrap):
    ctx = _ctx(no_bwrap / "run", python="/usr/bin/python3")
    result = run_in_sandbox(ctx, ctx.key("w"), "print(1)")
    assert result["sandbox"] == "rlimits-only" and result["stdout"] == "1\n"
    assert any("WITHOUT ISOLATION" in w for w in ctx.warnings)
    assert [e["kind"] for e in ctx.store.events()].count("warning") == 1
    ctx.store.close()


def test_require_bwrap_without_bwrap_is_a_clear_error(no_bwrap):
    ctx = _ctx(no_bwrap / "run", require_bwrap=True)
    with pytest.raises(SandboxError, match="apt-get install bubblewrap"):
        run_in_sandbox(ctx, ctx.key("w"), "print(1)")
    assert ctx.store.effect_count("exec") == 0
    ctx.store.close()


class _DiesOnSecondSubmit(ProcessExecutor):
    """A pool whose second task is lost, as when a worker is killed."""

    def __init__(self):
        super().__init__(2)
        self.submitted = 0

    def submit(self, fn, /, *args, **kwargs):
        self.submitted += 1
        if self.submitted == 2:
            from concurrent.futures import Future
            from concurrent.futures.process import BrokenProcessPool

            fut: Future = Future()
            fut.set_exception(BrokenProcessPool("a worker died"))
            return fut
        return super().submit(fn, *args, **kwargs)


def test_a_lost_program_is_rerun_on_resume_and_the_others_are_kept(tmp_path):
    from concurrent.futures.process import BrokenProcessPool

    run_dir = tmp_path / "run"
    jobs = lambda ctx: [(ctx.key("cand", i), f"print({i})", {}) for i in range(3)]  # noqa: E731
    with _DiesOnSecondSubmit() as pool:
        first = _ctx(run_dir, pool)
        with pytest.raises(BrokenProcessPool):
            run_batch_in_sandbox(first, jobs(first))
        assert first.store.effect_count("exec") == 2
        first.store.close()
    with ProcessExecutor(2) as pool:
        second = _ctx(run_dir, pool)
        results = run_batch_in_sandbox(second, jobs(second))
    assert [r["stdout"] for r in results] == ["0\n", "1\n", "2\n"]
    assert (second.effects.replayed, second.effects.executed) == (2, 1)
    second.store.close()
