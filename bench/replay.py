"""Replay vs live: a run of N recorded effects executed live, then replayed.

Each step makes one trivial effect (a hash of its index) and emits one
transcript event, as a phase would. The live side records every effect and
event in a fresh run store; the replay side resumes that run, so every effect
is served from the store and every event is found already written.

Prints a table of effects/s for both sides, then `ratio: X` (replay speed /
live speed) on the last line.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

from labcoat.config.loading import config_from_mapping
from labcoat.workflow.context import RunContext
from labcoat.run.runner import create_run, execute
from labcoat.store import RunStore
from labcoat.workflow import Phase, Workflow


def trivial_phase(steps: int):
    def run(ctx: RunContext) -> dict:
        total = 0
        for i in range(steps):
            key = ctx.key("step", i, "tool")
            result = ctx.effects.run("tool", key, {"i": i, "query": f"trivial {i}"},
                                     lambda i=i: {"digest": hashlib.sha256(str(i).encode()).hexdigest()[:8]})
            ctx.emit("tool_result", {"step": i, "digest": result["digest"]})
            total += 1
        return {"steps": total}
    return run


def timed_execute(run_dir: Path, steps: int, resumed: bool) -> tuple[float, RunContext]:
    factory = lambda config: Workflow([Phase("running_experiments", trivial_phase(steps))])  # noqa: E731
    started = time.perf_counter()
    ctx = execute(run_dir, factory, resumed=resumed)
    return time.perf_counter() - started, ctx


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--effects", type=int, default=10_000)
    args = parser.parse_args(argv)
    config = config_from_mapping({"topic": "replay benchmark", "phases": []}, source="bench")
    with tempfile.TemporaryDirectory(prefix="labcoat-bench-") as tmp:
        run_dir = create_run(config, run_dir=Path(tmp) / "run")
        live_s, live = timed_execute(run_dir, args.effects, resumed=False)
        replay_s, replay = timed_execute(run_dir, args.effects, resumed=True)
        with RunStore(run_dir, readonly=True) as store:
            state = store.info().state
            recorded = store.effect_count()
    if state != "finished" or live.effects.executed != args.effects or replay.effects.replayed != args.effects \
            or replay.effects.executed != 0 or recorded != args.effects:
        print(f"benchmark run is wrong: state={state} live={live.effects.executed} "
              f"replayed={replay.effects.replayed} replay-live={replay.effects.executed}", file=sys.stderr)
        return 1
    live_rate, replay_rate = args.effects / live_s, args.effects / replay_s
    print(f"{'side':<8}{'effects':>10}{'seconds':>10}{'effects/s':>12}")
    print(f"{'live':<8}{args.effects:>10}{live_s:>10.2f}{live_rate:>12,.0f}")
    print(f"{'replay':<8}{args.effects:>10}{replay_s:>10.2f}{replay_rate:>12,.0f}")
    print(f"ratio: {replay_rate / live_rate:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
