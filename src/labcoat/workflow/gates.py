"""Co-pilot gates: after a phase, a human approves it or asks for a revision.

A gate is an interface, not an `input()` call: the terminal, the web dashboard
and tests each supply one. The workflow records every answer as an effect, so
a resumed run never asks the same question twice.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Callable, Literal, Protocol

from labcoat.errors import HumanInputRequired


@dataclass(frozen=True)
class GateAnswer:
    decision: Literal["approve", "revise"]
    notes: str = ""

    def to_json(self) -> dict:
        return {"decision": self.decision, "notes": self.notes}

    @classmethod
    def from_json(cls, data: dict) -> "GateAnswer":
        decision = data.get("decision")
        if decision not in ("approve", "revise"):
            raise ValueError(f"a gate answer is 'approve' or 'revise', got {decision!r}")
        return cls(decision=decision, notes=str(data.get("notes", "")))


class Gate(Protocol):
    def ask(self, phase: str, attempt: int, summary: str) -> GateAnswer: ...


class AutoApprove:
    def ask(self, phase: str, attempt: int, summary: str) -> GateAnswer:
        return GateAnswer("approve")


class ScriptedGate:
    """Answers from a function (tests and programmatic use)."""

    def __init__(self, answer: Callable[[str, int, str], GateAnswer]):
        self.answer = answer
        self.asked: list[tuple[str, int]] = []

    def ask(self, phase: str, attempt: int, summary: str) -> GateAnswer:
        self.asked.append((phase, attempt))
        return self.answer(phase, attempt, summary)


class NoHumanGate:
    """Used when co-pilot is on but nobody can answer: pause the run, resumable."""

    def ask(self, phase: str, attempt: int, summary: str) -> GateAnswer:
        raise HumanInputRequired(
            f"co-pilot mode is on and the phase '{phase}' awaits approval, but there is no terminal to ask",
            hint="run `labcoat resume RUN` in a terminal, answer from the dashboard (`labcoat serve`), "
                 "or set copilot.auto_approve: true",
        )


def default_gate(enabled: bool, auto_approve: bool, interactive: Callable[[], Gate] | None = None) -> Gate:
    if not enabled or auto_approve:
        return AutoApprove()
    if interactive is not None and sys.stdin is not None and sys.stdin.isatty():
        return interactive()
    return NoHumanGate()
