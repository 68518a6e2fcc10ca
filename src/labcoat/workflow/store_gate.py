"""StoreGate: a co-pilot gate answered from the dashboard or the terminal, first answer wins.

The question is written to the run store's `gates` table, where the dashboard
(another process) sees it and may answer it; when a terminal gate is given,
it asks at the same time in a thread. Whichever answers first is returned;
the workflow records it as the gate's effect, so a resumed run never asks
again. An answer written while the run's process was down is picked up when
the run resumes.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable

from labcoat.errors import HumanInputRequired
from labcoat.workflow.gates import Gate, GateAnswer
from labcoat.store import gates
from labcoat.store.runstore import RunStore

Notify = Callable[[str], None]


def gate_key(phase: str, attempt: int) -> str:
    """The key the workflow records a gate's answer under (`ctx.key("gate")`)."""
    return f"{phase}#{attempt}/gate"


class _TerminalAsk:
    """One terminal prompt running in a daemon thread (input() cannot be cancelled)."""

    def __init__(self, gate: Gate, key: str, phase: str, attempt: int, summary: str, wake: threading.Event):
        self.key = key
        self.answer: GateAnswer | None = None
        self.error: BaseException | None = None
        self._wake = wake
        self.thread = threading.Thread(target=self._run, args=(gate, phase, attempt, summary),
                                       name=f"gate-terminal-{key}", daemon=True)
        self.thread.start()

    def _run(self, gate: Gate, phase: str, attempt: int, summary: str) -> None:
        try:
            self.answer = gate.ask(phase, attempt, summary)
        except Exception as exc:  # recorded and reported by the waiting loop
            self.error = exc
        finally:
            self._wake.set()

    @property
    def done(self) -> bool:
        return not self.thread.is_alive()


class StoreGate:
    """The Gate protocol over the run store, optionally racing a terminal gate."""

    def __init__(self, run_dir: Path | str, *, terminal: Gate | None = None, notify: Notify | None = None,
                 hint: str = "", poll_s: float = 0.5, timeout_s: float | None = None):
        self.run_dir = Path(run_dir)
        self.terminal = terminal
        self.notify = notify or (lambda text: None)
        self.hint = hint
        self.poll_s = max(0.01, poll_s)
        self.timeout_s = timeout_s
        self._asking: _TerminalAsk | None = None
        self._terminal_failed = False
        self._stale_noted: str | None = None
        self._wake = threading.Event()

    def ask(self, phase: str, attempt: int, summary: str) -> GateAnswer:
        key = gate_key(phase, attempt)
        with RunStore(self.run_dir) as store:
            row = gates.ask(store.db, key, phase, attempt, summary)
            if row.answer is not None:
                self.notify(f"co-pilot: {phase} was already answered from the {row.answered_by}: "
                            f"{row.answer.get('decision')}")
                return GateAnswer.from_json(row.answer)
            if self.terminal is None or self._terminal_failed:
                self.notify(f"co-pilot: {phase.replace('_', ' ')} awaits approval. {self.hint}".strip())
            return self._wait(store, key, phase, attempt, summary)

    def _wait(self, store: RunStore, key: str, phase: str, attempt: int, summary: str) -> GateAnswer:
        deadline = time.monotonic() + self.timeout_s if self.timeout_s is not None else None
        while True:
            row = gates.get(store.db, key)
            if row is not None and row.answer is not None:
                self._announce_remote(row.answered_by or "dashboard", row.answer, key)
                return GateAnswer.from_json(row.answer)
            answer = self._from_terminal(store, key, phase, attempt, summary)
            if answer is not None:
                return answer
            if deadline is not None and time.monotonic() > deadline:
                raise HumanInputRequired(
                    f"co-pilot: nobody answered the gate after {phase} within {self.timeout_s:g} s",
                    hint="answer it from the dashboard (`labcoat serve`) and `labcoat resume RUN`")
            self._wake.wait(self.poll_s)
            self._wake.clear()

    def _from_terminal(self, store: RunStore, key: str, phase: str, attempt: int,
                       summary: str) -> GateAnswer | None:
        if self.terminal is None or self._terminal_failed:
            return None
        asking = self._asking
        if asking is not None and asking.done:
            self._asking = None
            if asking.key != key:
                self.notify("that terminal answer was for an earlier gate and is ignored")
            elif asking.error is not None:
                self._terminal_failed = True
                self.notify(f"co-pilot: the terminal prompt failed ({type(asking.error).__name__}: "
                            f"{asking.error}); waiting for an answer from the dashboard. {self.hint}".strip())
                return None
            elif asking.answer is not None:
                if gates.answer(store.db, key, asking.answer.to_json(), "terminal"):
                    return asking.answer
                return None  # the dashboard answered first; the next poll reads its answer
        if self._asking is None:
            self._asking = _TerminalAsk(self.terminal, key, phase, attempt, summary, self._wake)
        elif self._asking.key != key and self._stale_noted != key:
            self._stale_noted = key
            self.notify("co-pilot: the terminal prompt above is for an earlier gate; press Enter to "
                        "dismiss it and get a fresh one, or answer in the dashboard")
        return None

    def _announce_remote(self, by: str, answer: dict, key: str) -> None:
        if self._asking is not None and self._asking.key == key and not self._asking.done:
            notes = f" — {answer.get('notes')}" if answer.get("notes") else ""
            self.notify(f"co-pilot: answered from the {by}: {answer.get('decision')}{notes}. "
                        "The terminal prompt no longer applies; press Enter to dismiss it.")
