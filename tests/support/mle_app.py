"""Run the experiments phase of a run in its own process, for kill-and-resume tests (tests only).

    python -m tests.support.mle_app RUN_DIR

The workflow is a fixed plan, no prepared data, then the real
running_experiments phase; the model is whatever the run's config points at.
The programs are small pure-Python experiments (a threshold classifier on
seeded synthetic data) so a kill can land between candidates of one step.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

from labcoat.artefacts import DataCode, MetricSpec, Plan
from labcoat.phases import running_experiments
from labcoat.run.runner import execute
from labcoat.run.services import attach
from labcoat.workflow import Phase, Workflow

from tests.support.lab_policies import reply_command
from tests.support.mle_policies import assess, line_of
from tests.support.scripted_provider import ScriptedRequest

PLAN = Plan(question="Which decision threshold separates the two classes best?", method="threshold search",
            metrics=[MetricSpec(name="accuracy", higher_is_better=True, split="dev")],
            protocol="select on dev, test once")

PROGRAM = '''import json
import os
import random
import time

DELAY = 0.0
THRESHOLD = 0.3
rng = random.Random(0)
rows = []
for _ in range(600):
    x = rng.random()
    rows.append((x, int(x + rng.gauss(0, 0.15) > 0.62)))
train, dev, test = rows[:400], rows[400:497], rows[497:]  # 97 dev rows: no round accuracies


def fit(data, start):
    """Refine the threshold a little around `start` on the training rows."""
    grid = [start + d / 100 for d in range(-3, 4)]
    return max(grid, key=lambda t: sum((x > t) == bool(y) for x, y in data))


def predict(t, data):
    return [int(x > t) for x, _ in data]


t = fit(train, THRESHOLD)
time.sleep(DELAY)
acc = sum(p == y for p, (_, y) in zip(predict(t, dev), dev)) / len(dev)
metrics = [{"name": "accuracy", "value": acc, "split": "dev", "higher_is_better": True}]
if os.environ.get("LABCOAT_EVAL_SPLIT") == "test":
    test_acc = sum(p == y for p, (_, y) in zip(predict(t, test), test)) / len(test)
    metrics.append({"name": "accuracy", "value": test_acc, "split": "test", "higher_is_better": True})
json.dump(metrics, open("metrics.json", "w"))
print("threshold", t, "dev accuracy", acc)
'''

# (threshold, seconds of work) per proposal, in the order the engineer is asked
PROPOSALS = [(0.45, 5.0), (0.5, 0.0), (0.62, 0.0), (0.7, 0.0), (0.55, 0.0), (0.6, 0.0), (0.4, 0.0), (0.65, 0.0)]


def workflow(config: Any) -> Workflow:
    return Workflow([Phase("plan_formulation", lambda ctx: PLAN),
                     Phase("data_preparation", lambda ctx: DataCode(code="# synthetic data inside the program")),
                     Phase(running_experiments.NAME, running_experiments.run)])


def threshold_policy() -> Callable[[ScriptedRequest, str, int], Any]:
    """The ML engineer edits THRESHOLD and DELAY; the n-th proposal gets PROPOSALS[n]."""
    asked = [0]

    def policy(request: ScriptedRequest, role: str, step: int) -> Any:
        names = request.command_names
        if names == ["assess"]:
            return assess(request, 0.5, "A measured dev accuracy on a held-out split.",
                          "The threshold is what moves dev accuracy.")
        if "No program exists yet" in request.last_user:
            return reply_command("replace", body=PROGRAM)
        threshold, delay = PROPOSALS[asked[0] % len(PROPOSALS)]
        asked[0] += 1
        start, end = line_of(request, r"^DELAY = "), line_of(request, r"^THRESHOLD = ")
        return reply_command("edit", start=start, end=end, body=f"DELAY = {delay}\nTHRESHOLD = {threshold}")

    return policy


if __name__ == "__main__":
    execute(Path(sys.argv[1]), workflow, attach=attach)
