"""mle-solver batch parallelism: B candidates per step at once versus one at a time.

Runs the real running_experiments phase twice on a scripted model served on
loopback, with the real sandbox and the default process executor (one worker
per core): 3 steps x 4 candidates (B = 4) and 12 steps x 1 candidate (B = 1),
the same number of CPU-bound candidate programs (pure-Python work of about a
second each). Prints wall times, then `speedup: X` (B=1 wall / B=4 wall).

    python bench/mle_parallel.py [--work 6000000] [--repeats 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from labcoat.run.runner import create_run, execute  # noqa: E402
from labcoat.run.services import attach  # noqa: E402
from labcoat.store import open_store  # noqa: E402
from tests.support import mle_app  # noqa: E402
from tests.support.lab_policies import reply_command  # noqa: E402
from tests.support.mle_policies import line_of  # noqa: E402
from tests.support.scripted_provider import TEST_KEY, ScriptedProvider, scripted_config  # noqa: E402

THRESHOLDS = [0.4, 0.45, 0.5, 0.55, 0.6, 0.62, 0.65, 0.7]


def program(work: int) -> str:
    """The kill-and-resume tests' threshold program, with CPU work where they sleep."""
    return mle_app.PROGRAM.replace("time.sleep(DELAY)", f"busy = sum(i % 7 for i in range({work}))")


def policy(work: int):
    asked = [0]

    def reply(request: Any) -> Any:
        names = request.command_names
        if names == ["score"]:
            return reply_command("score", score=0.5, rationale="A measured dev accuracy.")
        if names == ["reflect"]:
            return reply_command("reflect", text="The threshold is what moves dev accuracy.")
        if "No program exists yet" in request.last_user:
            return reply_command("replace", body=program(work))
        n = line_of(request, r"^THRESHOLD = ")
        asked[0] += 1
        return reply_command("edit", start=n, end=n, body=f"THRESHOLD = {THRESHOLDS[asked[0] % len(THRESHOLDS)]}")

    return reply


def one_run(tmp: Path, name: str, steps: int, batch: int, work: int) -> dict[str, float]:
    with ScriptedProvider(policy(work)) as sp:
        config = scripted_config(sp, seed=3, mle={"use_seeds": False},
                                 budget={"mle_steps": steps, "mle_candidates": batch, "mle_repairs": 0,
                                         "mle_top_k": 2},
                                 sandbox={"timeout_s": 300, "memory_mb": 1024})
        run_dir = create_run(config, tmp / name)
        started = time.perf_counter()
        ctx = execute(run_dir, mle_app.workflow, attach=attach)
        wall = time.perf_counter() - started
    if ctx.failure is not None:
        raise SystemExit(f"{name}: the run failed: {ctx.failure}")
    with open_store(run_dir, readonly=True) as store:
        rows = store.db.execute("SELECT key, duration_s FROM effects WHERE kind='exec'").fetchall()
    cands = [d for k, d in rows if "/cand/" in k and "/mle/0/" not in k]
    return {"wall": wall, "candidates": len(cands), "program_s": sum(d for _, d in rows)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=int, default=6_000_000, help="loop iterations per candidate program")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    os.environ["OPENAI_API_KEY"] = TEST_KEY
    results: dict[str, list[dict[str, float]]] = {"B=1 (12 steps x 1)": [], "B=4 (3 steps x 4)": []}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("LABCOAT_CACHE_DIR", str(Path(tmp) / "cache"))
        for r in range(args.repeats):
            results["B=1 (12 steps x 1)"].append(one_run(Path(tmp), f"b1-{r}", 12, 1, args.work))
            results["B=4 (3 steps x 4)"].append(one_run(Path(tmp), f"b4-{r}", 3, 4, args.work))
    print(f"cores: {os.cpu_count()}  (executor workers = cores); load average now: {os.getloadavg()[0]:.1f} "
          "(other work on the machine caps the speedup)")
    print(f"{'configuration':<22}{'candidates':>11}{'programs s':>12}{'wall s':>9}")
    walls = {}
    for name, runs in results.items():
        walls[name] = statistics.median(r["wall"] for r in runs)
        print(f"{name:<22}{int(runs[0]['candidates']):>11}{statistics.median(r['program_s'] for r in runs):>12.1f}"
              f"{walls[name]:>9.1f}")
    print(f"speedup: {walls['B=1 (12 steps x 1)'] / walls['B=4 (3 steps x 4)']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
