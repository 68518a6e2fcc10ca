"""Run a run's workflow with a co-pilot gate that answers from a script and logs each question (tests only).

    python -m tests.support.gate_app RUN_DIR ASKED_LOG

Revises plan_formulation attempt 0 with a note, approves everything else.
"""

from __future__ import annotations

import sys
from pathlib import Path

from labcoat.gate import GateAnswer
from labcoat.phases import default_workflow
from labcoat.runner import execute
from labcoat.services import attach

NOTE = "Add a fourth data set: digits."


class LoggingGate:
    def __init__(self, log: Path):
        self.log = log

    def ask(self, phase: str, attempt: int, summary: str) -> GateAnswer:
        with self.log.open("a", encoding="utf-8") as f:
            f.write(f"{phase} {attempt}\n")
        if (phase, attempt) == ("plan_formulation", 0):
            return GateAnswer("revise", NOTE)
        return GateAnswer("approve")


if __name__ == "__main__":
    execute(Path(sys.argv[1]), default_workflow, gate=LoggingGate(Path(sys.argv[2])), attach=attach)
