"""A small research pipeline with recorded effects, for replay and kill tests.

Run as a program (`python tests/support/pipeline_app.py RUN_DIR COUNTER_LOG ...`)
so a test can kill it with SIGKILL at any point and resume it. Every effect
appends a `start KEY` line to the counter log before its work and an
`end KEY` line after it, outside the store, so the test can count live
executions and see which one a kill cut short.

Phases: a sequential one (tool calls), a gated one (the scripted co-pilot asks
for one revision), and a parallel one (candidates of each step run on a thread
pool, keyed by their logical position, recorded as they complete).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

from labcoat.config.loading import config_from_mapping
from labcoat.config.schema import ResearchConfig
from labcoat.workflow.context import RunContext
from labcoat.workflow.gates import GateAnswer, ScriptedGate
from labcoat.run.runner import create_run, execute
from labcoat.store import RunStore
from labcoat.workflow import Phase, Workflow

LIT_STEPS = 12
PLAN_TURNS = 4
EXP_STEPS = 5


class CounterLog:
    """Start/end markers of live effect executions, appended with O_APPEND."""

    def __init__(self, path: Path, delay_s: float):
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.delay_s = delay_s

    def mark(self, what: str, key: str) -> None:
        os.write(self.fd, f"{what} {key}\n".encode())

    def wrap(self, key: str, work: Callable[[], Any]) -> Callable[[], Any]:
        def live() -> Any:
            self.mark("start", key)
            if self.delay_s:
                time.sleep(self.delay_s)
            result = work()
            self.mark("end", key)
            return result
        return live


def digest(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:16]


def literature_review(log: CounterLog) -> Callable[[RunContext], Any]:
    def run(ctx: RunContext) -> Any:
        papers = []
        for i in range(LIT_STEPS):
            key = ctx.key("step", i, "search")
            request = {"query": f"{ctx.config.topic} {i}"}
            found = ctx.effects.run("tool", key, request, log.wrap(key, lambda i=i: {"paper": digest("paper", i)}))
            ctx.emit("tool_result", {"step": i, "paper": found["paper"]})
            papers.append(found["paper"])
        return {"papers": papers}
    return run


def plan_formulation(log: CounterLog) -> Callable[[RunContext], Any]:
    def run(ctx: RunContext) -> Any:
        lines = []
        for turn in range(PLAN_TURNS):
            key = ctx.key("turn", turn, "postdoc", "llm")
            request = {"turn": turn, "notes": ctx.phase_notes(), "attempt": ctx.attempt}
            reply = ctx.effects.run("llm", key, request,
                                    log.wrap(key, lambda t=turn: {"text": f"plan line {t} {digest(ctx.attempt, t)}"}))
            ctx.emit("agent_turn", {"role": "postdoc", "text": reply["text"]})
            lines.append(reply["text"])
        return {"plan": lines, "attempt": ctx.attempt}
    return run


def running_experiments(log: CounterLog) -> Callable[[RunContext], Any]:
    def run(ctx: RunContext) -> Any:
        width = ctx.config.budget.mle_candidates
        best: list[float] = []
        with ThreadPoolExecutor(max_workers=3) as pool:
            for step in range(EXP_STEPS):
                keys = [ctx.key("step", step, "cand", c, "sandbox") for c in range(width)]
                requests = [{"step": step, "cand": c, "width": width} for c in range(width)]
                results: dict[int, Any] = {}
                pending = []
                for c, (key, request) in enumerate(zip(keys, requests)):
                    hit = ctx.effects.lookup("sandbox", key, request)
                    if hit is not None:
                        results[c] = hit.result
                    else:
                        pending.append((c, pool.submit(_candidate, ctx, log, key, request)))
                for c, future in pending:
                    results[c] = future.result()
                for c in range(width):
                    ctx.emit("candidate", {"step": step, "cand": c, "score": results[c]["score"]})
                best.append(max(results[c]["score"] for c in range(width)))
        out_dir = ctx.artefact_dir("running_experiments")
        (out_dir / "scores.txt").write_text("\n".join(f"{s:.6f}" for s in best) + "\n")
        return {"best": best}
    return run


def _candidate(ctx: RunContext, log: CounterLog, key: str, request: dict) -> Any:
    # Recorded from the worker thread as soon as it completes, in whatever order.
    started = time.monotonic()
    result = log.wrap(key, lambda: {"score": int(digest(key), 16) % 1000 / 1000})()
    ctx.effects.record("sandbox", key, request, result, time.monotonic() - started)
    return result


def build_workflow(log: CounterLog) -> Callable[[ResearchConfig], Workflow]:
    def factory(config: ResearchConfig) -> Workflow:
        return Workflow([
            Phase("literature_review", literature_review(log)),
            Phase("plan_formulation", plan_formulation(log)),
            Phase("running_experiments", running_experiments(log)),
        ])
    return factory


def scripted_gate(log: CounterLog) -> ScriptedGate:
    """Asks for one revision of the plan, approves everything else."""
    def answer(phase: str, attempt: int, summary: str) -> GateAnswer:
        key = f"{phase}#{attempt}/gate"
        log.mark("start", key)
        if log.delay_s:
            time.sleep(log.delay_s)
        decision = GateAnswer("revise", "add a baseline") if (phase, attempt) == ("plan_formulation", 0) \
            else GateAnswer("approve")
        log.mark("end", key)
        return decision
    return ScriptedGate(answer)


def config(topic: str = "pipeline test") -> ResearchConfig:
    return config_from_mapping({"topic": topic, "copilot": {"enabled": True}, "phases": [],
                                "budget": {"mle_candidates": 3}}, source="pipeline_app")


def run(run_dir: Path, counter: Path, *, delay_s: float = 0.0, overrides: list[str] | None = None,
        resumed: bool = True) -> RunContext:
    log = CounterLog(counter, delay_s)
    try:
        return execute(run_dir, build_workflow(log), gate=scripted_gate(log), overrides=overrides, resumed=resumed)
    finally:
        os.close(log.fd)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("counter", type=Path)
    parser.add_argument("--create", action="store_true", help="create the run first")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds each live effect takes")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args(argv)
    if args.create:
        create_run(config(), run_dir=args.run_dir)
    print("ready", flush=True)
    run(args.run_dir, args.counter, delay_s=args.delay, overrides=args.overrides or None,
              resumed=not args.create)
    with RunStore(args.run_dir, readonly=True) as store:
        state = store.info().state
    print(state, flush=True)
    return 0 if state == "finished" else 1


if __name__ == "__main__":
    sys.exit(main())
