"""StoreGate: the co-pilot question in run.db, answered by the dashboard or the terminal."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from labcoat.errors import HumanInputRequired
from labcoat.workflow.gates import GateAnswer
from labcoat.workflow.store_gate import StoreGate, gate_key
from labcoat.store import RunStore, gates


def _run_store(tmp_path: Path) -> Path:
    run_dir = tmp_path / "run"
    with RunStore(run_dir) as store:
        store.create_run("r1", "topic", {"topic": "topic"}, "test")
    return run_dir


def _ask_in_thread(gate: StoreGate, phase: str = "plan_formulation", attempt: int = 0):
    out: dict = {}

    def target() -> None:
        try:
            out["answer"] = gate.ask(phase, attempt, "the plan: compare A and B")
        except Exception as exc:  # surfaced by the assertions below
            out["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, out


def _wait_pending(run_dir: Path, timeout: float = 5.0) -> gates.GateRow:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with RunStore(run_dir, readonly=True) as store:
            rows = gates.pending(store.db)
        if rows:
            return rows[0]
        time.sleep(0.02)
    raise AssertionError("the gate never became pending")


def test_answer_from_another_connection_reaches_the_waiting_gate(tmp_path: Path) -> None:
    run_dir = _run_store(tmp_path)
    gate = StoreGate(run_dir, poll_s=0.02)
    thread, out = _ask_in_thread(gate)
    row = _wait_pending(run_dir)
    assert (row.key, row.phase, row.attempt) == ("plan_formulation#0/gate", "plan_formulation", 0)
    assert "compare A and B" in row.summary
    with RunStore(run_dir) as store:
        assert gates.answer(store.db, row.key, {"decision": "revise", "notes": "add a baseline"}, "dashboard")
        # a second answer to the same gate loses
        assert not gates.answer(store.db, row.key, {"decision": "approve", "notes": ""}, "dashboard")
    thread.join(5)
    assert out == {"answer": GateAnswer("revise", "add a baseline")}
    with RunStore(run_dir, readonly=True) as store:
        final = gates.get(store.db, row.key)
    assert final is not None and final.answered_by == "dashboard" and not final.pending


def test_an_answer_given_while_the_process_was_down_is_used_on_resume(tmp_path: Path) -> None:
    run_dir = _run_store(tmp_path)
    with RunStore(run_dir) as store:
        gates.ask(store.db, gate_key("data_preparation", 1), "data_preparation", 1, "summary")
        assert gates.answer(store.db, gate_key("data_preparation", 1), {"decision": "approve", "notes": ""},
                            "dashboard")
    # With an hour between polls, only an answer read at once can come back within the deadline.
    out: dict = {}
    thread = threading.Thread(target=lambda: out.update(answer=StoreGate(run_dir, poll_s=3600).ask(
        "data_preparation", 1, "summary")), daemon=True)
    thread.start()
    thread.join(60)
    assert out == {"answer": GateAnswer("approve")}


def test_an_answer_to_a_different_summary_is_stale(tmp_path: Path) -> None:
    run_dir = _run_store(tmp_path)
    key = gate_key("plan_formulation", 0)
    with RunStore(run_dir) as store:
        gates.ask(store.db, key, "plan_formulation", 0, "plan A")
        assert gates.answer(store.db, key, {"decision": "approve", "notes": ""}, "dashboard")
        again = gates.ask(store.db, key, "plan_formulation", 0, "plan B")  # the phase came out differently
    assert again.pending and again.summary == "plan B" and again.answered_by is None


class _SlowTerminal:
    """A terminal gate whose user answers after `delay` seconds, or never (None)."""

    def __init__(self, answer: GateAnswer, delay: float | None):
        self.answer, self.delay = answer, delay
        self.release = threading.Event()
        self.asked: list[str] = []

    def ask(self, phase: str, attempt: int, summary: str) -> GateAnswer:
        self.asked.append(phase)
        self.release.wait(self.delay)
        return self.answer


def test_terminal_answer_wins_when_it_comes_first(tmp_path: Path) -> None:
    run_dir = _run_store(tmp_path)
    terminal = _SlowTerminal(GateAnswer("approve"), delay=0.05)
    said: list[str] = []
    answer = StoreGate(run_dir, terminal=terminal, notify=said.append, poll_s=0.02).ask("plan_formulation", 0, "s")
    assert answer == GateAnswer("approve")
    with RunStore(run_dir, readonly=True) as store:
        row = gates.get(store.db, gate_key("plan_formulation", 0))
    assert row is not None and row.answered_by == "terminal"
    # a late dashboard answer is refused: the gate is no longer pending
    with RunStore(run_dir) as store:
        assert not gates.answer(store.db, row.key, {"decision": "revise", "notes": "x"}, "dashboard")


def test_dashboard_answer_wins_over_a_blocked_terminal_prompt(tmp_path: Path) -> None:
    run_dir = _run_store(tmp_path)
    terminal = _SlowTerminal(GateAnswer("approve"), delay=None)
    said: list[str] = []
    gate = StoreGate(run_dir, terminal=terminal, notify=said.append, poll_s=0.02)
    thread, out = _ask_in_thread(gate)
    row = _wait_pending(run_dir)
    with RunStore(run_dir) as store:
        assert gates.answer(store.db, row.key, {"decision": "revise", "notes": "use dev split"}, "dashboard")
    thread.join(5)
    assert out == {"answer": GateAnswer("revise", "use dev split")}
    assert any("answered from the dashboard" in s for s in said)
    # the stale prompt, once dismissed, cannot answer the next gate
    thread2, out2 = _ask_in_thread(gate, "data_preparation")
    _wait_pending(run_dir)
    terminal.release.set()  # user presses Enter on the old prompt ...
    thread2.join(5)  # ... and a fresh prompt for the new gate answers it
    assert out2 == {"answer": GateAnswer("approve")}
    assert terminal.asked == ["plan_formulation", "data_preparation"]
    assert any("earlier gate" in s for s in said)


def test_timeout_pauses_the_run(tmp_path: Path) -> None:
    run_dir = _run_store(tmp_path)
    with pytest.raises(HumanInputRequired, match="nobody answered"):
        StoreGate(run_dir, poll_s=0.01, timeout_s=0.1).ask("plan_formulation", 0, "s")


def test_gate_answer_on_a_store_without_the_table_is_refused(tmp_path: Path) -> None:
    import sqlite3

    db = sqlite3.connect(tmp_path / "old.db")
    assert not gates.has_table(db)
    assert gates.pending(db) == []
    assert not gates.answer(db, "x#0/gate", {"decision": "approve"}, "dashboard")
