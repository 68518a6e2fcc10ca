"""Experiment programs' model calls are durable: kill -9 mid-evaluation, resume, nothing is asked twice.

The run (tests/support/gateway_app.py) runs in a child process against a
ScriptedProvider in this process, which counts every request it receives.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from labcoat.gateway import calls_made
from labcoat.run.runner import create_run, execute
from labcoat.run.services import attach
from labcoat.store import open_store

from tests.support.gateway_app import PARALLEL, PROGRAM_KEY, SEQUENTIAL, workflow
from tests.support.scripted_provider import TEST_KEY, ScriptedProvider, scripted_config

REPO = Path(__file__).resolve().parents[1]
TOTAL = SEQUENTIAL + PARALLEL


def slow_answers(delay: float):
    def policy(request):
        time.sleep(delay)
        return f"answer to {request.last_user}"
    return policy


def gateway_keys(run_dir: Path) -> list[str]:
    with open_store(run_dir, readonly=True) as store:
        return [r[0] for r in store.db.execute("SELECT key FROM effects WHERE kind='gateway'")]


def config(sp: ScriptedProvider, **sections):
    return scripted_config(sp, executor={"workers": 1}, sandbox={"timeout_s": 120, "memory_mb": 1024},
                           experiments={"max_tokens_per_call": 64}, **sections)


def asked(sp: ScriptedProvider) -> Counter:
    return Counter(r.last_user for r in sp.requests)


def test_kill_mid_evaluation_then_resume_asks_the_provider_nothing_twice(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
    with ScriptedProvider(slow_answers(0.25)) as sp:
        run_dir = create_run(config(sp), tmp_path / "run")
        child = subprocess.Popen([sys.executable, "-m", "tests.support.gateway_app", str(run_dir)], cwd=REPO,
                                 env={**os.environ, "OPENAI_API_KEY": TEST_KEY})
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and child.poll() is None:
                if (run_dir / "run.db").exists() and len(gateway_keys(run_dir)) >= 4:
                    break
                time.sleep(0.05)
            child.send_signal(signal.SIGKILL)
            child.wait(10)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait(10)
        recorded = gateway_keys(run_dir)
        assert 4 <= len(recorded) < TOTAL, recorded
        before = asked(sp)
        answered_before = {call["request"]["messages"][-1]["content"] for call in _calls(run_dir)}

        ctx = execute(run_dir, workflow, attach=attach, resumed=True)
        assert ctx.failure is None, ctx.failure
        after = asked(sp)

    again = {prompt for prompt, n in after.items() if n > 1}
    # nothing answered before the kill reached the provider again (a call in flight at the kill may have)
    assert not again & answered_before, again
    assert sum(after.values()) - sum(before.values()) == TOTAL - len(recorded)
    with open_store(run_dir, readonly=True) as store:
        assert store.info().state == "finished"
        result = json.loads(store.db.execute("SELECT result FROM effects WHERE key=?", (PROGRAM_KEY,)).fetchone()[0])
        ledger = [r for r in store.ledger() if r["role"] == "experiment"]
    assert result["exit_code"] == 0, result["stderr"]
    assert result["model_calls"]["calls"] == TOTAL
    assert result["model_calls"]["replayed"] == len(recorded)
    assert len(_calls(run_dir)) == TOTAL
    # one ledger row per call the provider answered and the run recorded, each naming the program
    assert len(ledger) == TOTAL and {r["node"] for r in ledger} == {PROGRAM_KEY}


def _calls(run_dir: Path) -> list[dict]:
    with open_store(run_dir, readonly=True) as store:
        return calls_made(store, PROGRAM_KEY)


def test_budget_reached_inside_a_program_pauses_the_run_and_resume_rebills_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
    with ScriptedProvider(slow_answers(0.0)) as sp:
        # a few calls' worth of gpt-4o-mini at 64 output tokens each
        run_dir = create_run(config(sp, budget={"dollars": 0.00005}), tmp_path / "run")
        ctx = execute(run_dir, workflow, attach=attach)
        assert ctx.failure is None
        with open_store(run_dir, readonly=True) as store:
            info = store.info()
            assert info.state == "paused", (info.state, info.message)
            assert "budget" in (info.message or "")
            assert store.db.execute("SELECT COUNT(*) FROM effects WHERE key=?", (PROGRAM_KEY,)).fetchone()[0] == 0
            refusals = [e for e in store.lifecycle() if e["kind"] == "gateway_refused"]
        assert refusals and refusals[0]["payload"]["status"] == 402
        answered = len(sp.served)
        assert 0 < answered < TOTAL

        ctx = execute(run_dir, workflow, attach=attach, resumed=True, overrides=["budget.dollars=1"])
        assert ctx.failure is None, ctx.failure
        prompts = asked(sp)
    assert all(n == 1 for n in prompts.values()), prompts
    assert len(sp.served) == TOTAL
    with open_store(run_dir, readonly=True) as store:
        assert store.info().state == "finished"
