"""A one-phase run whose experiment program calls a model through the gateway (tests only).

    python -m tests.support.gateway_app RUN_DIR

The phase runs EVAL_PROGRAM as the recorded program `running_experiments#0/eval`:
sequential questions, then questions asked from threads at once, then
metrics.json; the model is whatever the run's config points at.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from labcoat.executor.recorded import run_in_sandbox
from labcoat.run.runner import execute
from labcoat.run.services import attach
from labcoat.workflow import Phase, Workflow

SEQUENTIAL = 10
PARALLEL = 6
PROGRAM_KEY = "running_experiments#0/eval"

EVAL_PROGRAM = f'''import json
from concurrent.futures import ThreadPoolExecutor

from labcoat_lab import GatewayError, ask

answers = []
for i in range({SEQUENTIAL}):
    answers.append(ask(f"question {{i}}", system="Answer briefly.", temperature=0.7))
with ThreadPoolExecutor(4) as pool:
    answers += list(pool.map(lambda i: ask(f"parallel {{i}}", temperature=0.7), range({PARALLEL})))
correct = sum(a.startswith("answer to") for a in answers)
json.dump([{{"name": "accuracy", "value": correct / len(answers), "split": "dev", "higher_is_better": True}}],
          open("metrics.json", "w"))
print("answered", len(answers))
'''


def run_eval(ctx: Any) -> dict:
    result = run_in_sandbox(ctx, PROGRAM_KEY, EVAL_PROGRAM, timeout=120)
    ctx.emit("evaluated", {"exit_code": result["exit_code"], "model_calls": result.get("model_calls")})
    return result


def workflow(config: Any) -> Workflow:
    return Workflow([Phase("running_experiments", run_eval)])


if __name__ == "__main__":
    execute(Path(sys.argv[1]), workflow, attach=attach)
