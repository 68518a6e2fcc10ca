"""Run a run's workflow with a co-pilot gate that answers from a script and logs each question (tests only).

    python -m tests.support.gate_app RUN_DIR ASKED_LOG [--revise PHASE] [--workflow MODULE:FACTORY]

Revises attempt 0 of plan_formulation (or of --revise PHASE) with a note and
approves everything else. --workflow names a workflow factory to run instead
of the default workflow.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from labcoat.workflow.gates import GateAnswer
from labcoat.phases import default_workflow
from labcoat.run.runner import execute
from labcoat.run.services import attach

NOTE = "Add a fourth data set: digits."


class LoggingGate:
    def __init__(self, log: Path, revise: str = "plan_formulation"):
        self.log = log
        self.revise = revise

    def ask(self, phase: str, attempt: int, summary: str) -> GateAnswer:
        with self.log.open("a", encoding="utf-8") as f:
            f.write(f"{phase} {attempt}\n")
        if (phase, attempt) == (self.revise, 0):
            return GateAnswer("revise", NOTE)
        return GateAnswer("approve")


def kill_when(run_dir: Path, asked_log: Path, ready, release, *, what: str, timeout: float = 60,
              args: tuple[str, ...] = ()) -> None:
    """Run this app on `run_dir` in a child process, SIGKILL it once `ready()` holds, then `release` the
    scripted model's held calls; fails with `what` if `ready()` never held."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.support.scripted_provider import TEST_KEY

    child = subprocess.Popen([sys.executable, "-m", "tests.support.gate_app", str(run_dir), str(asked_log), *args],
                             env={**os.environ, "OPENAI_API_KEY": TEST_KEY})
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and child.poll() is None and not ready():
            time.sleep(0.05)
        assert ready(), what
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
        release.set()


def factory(spec: str):
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("asked_log", type=Path)
    parser.add_argument("--revise", default="plan_formulation")
    parser.add_argument("--workflow", default=None)
    args = parser.parse_args()
    execute(args.run_dir, factory(args.workflow) if args.workflow else default_workflow,
            gate=LoggingGate(args.asked_log, args.revise), attach=attach)
