"""Start, resume and finish runs: the run directory, its state, and clean pauses.

`start_run` creates a run directory and store and executes the workflow;
`resume_run` opens an existing one and executes the same workflow again
(replay). Whatever happens, the run's state in the store says so: finished,
paused (with the hint to continue), or failed (with the error) — and a paused
or failed run can always be resumed.
"""

from __future__ import annotations

import os
import re
import secrets
import time
import traceback
from pathlib import Path
from typing import Callable

from labcoat import __version__
from labcoat.config.loading import apply_set, parse_set, validate_config
from labcoat.config.schema import ResearchConfig
from labcoat.workflow.context import EventLog, RunContext
from labcoat.errors import LabcoatError, RunPaused
from labcoat.run.readiness import preflight
from labcoat.workflow.gates import AutoApprove, Gate
from labcoat.workflow.progress import Progress, SilentProgress
from labcoat.store import Effects, RunStore, open_store
from labcoat.store.runstore import runs_root
from labcoat.workflow import Workflow

WorkflowFactory = Callable[[ResearchConfig], Workflow]
Attach = Callable[[RunContext], None]


def new_run_id(topic: str, now: float | None = None) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now or time.time()))
    slug = re.sub(r"[^a-z0-9]+", "-", topic.lower()).strip("-")[:32].strip("-") or "run"
    return f"{stamp}-{slug}-{secrets.token_hex(2)}"


def create_run(config: ResearchConfig, run_dir: Path | str | None = None,
               runs: Path | str | None = None) -> Path:
    """Make the run directory and its store; return the directory."""
    run_id = new_run_id(config.topic)
    if run_dir is None:
        run_dir = runs_root(runs) / run_id
    run_dir = Path(run_dir)
    if (run_dir / "run.db").exists():
        raise LabcoatError(f"{run_dir} already holds a run; use `labcoat resume {run_dir}` or another --run-dir")
    run_dir.mkdir(parents=True, exist_ok=True)
    with RunStore(run_dir) as store:
        store.create_run(run_dir.name if run_dir.name else run_id, config.topic,
                         config.model_dump(mode="json"), __version__)
        store.log("created", f"run created for topic: {config.topic}")
    return run_dir


def execute(run_dir: Path | str, workflow_factory: WorkflowFactory, *, gate: Gate | None = None,
            progress: Progress | None = None, attach: Attach | None = None,
            overrides: list[str] | None = None, resumed: bool = False) -> RunContext:
    """Run (or replay and continue) the workflow of the run in `run_dir`.

    Returns the context; the run's final state is in the store. Pauses and
    failures are recorded, not raised, except KeyboardInterrupt after saving.
    """
    run_dir = Path(run_dir)
    store = open_store(run_dir)
    try:
        raw = store.config()
        if overrides:
            raw = apply_set(raw, parse_set(overrides))
            config = validate_config(raw, source="--set")
            store.update_config(config.model_dump(mode="json"))
            store.log("config_changed", f"config changed on resume: {', '.join(overrides)}")
        else:
            config = validate_config(raw, source=str(run_dir / "run.db"))
        info = store.info()
        if info.alive and info.pid != os.getpid():
            raise LabcoatError(f"run {info.id} is being run by process {info.pid}; "
                               "wait for it, or stop it before resuming")
        ctx = RunContext(
            config=config, store=store, run_id=info.id, run_dir=run_dir,
            effects=Effects(store, config.seed), events=EventLog(store),
            gate=gate or AutoApprove(), progress=progress or SilentProgress(),
        )
        store.set_state("running", pid=os.getpid())
        store.log("resumed" if resumed else "started",
                  f"{'resumed' if resumed else 'started'} by pid {os.getpid()}")
        _run(ctx, workflow_factory, attach)
        return ctx
    finally:
        store.close()


def _run(ctx: RunContext, workflow_factory: WorkflowFactory, attach: Attach | None) -> None:
    store = ctx.store
    try:
        if attach is not None:
            attach(ctx)
        preflight(ctx)
        workflow = workflow_factory(ctx.config)
        workflow.run(ctx)
    except RunPaused as pause:
        _drop_stale_tail(ctx)
        message = f"{pause}" + (f" — {pause.hint}" if pause.hint else "")
        store.set_state("paused", message=message)
        store.log("paused", message, reason=pause.reason)
        ctx.progress.message(f"run paused: {message}", level="warning")
        return
    except KeyboardInterrupt:
        store.set_state("paused", message="interrupted (Ctrl-C); `labcoat resume` continues")
        store.log("paused", "interrupted by the user", reason="interrupt")
        raise
    except Exception as exc:  # a failed run is recorded, then reported by the caller
        _drop_stale_tail(ctx)
        message = f"{type(exc).__name__}: {exc}"
        store.set_state("failed", message=message)
        store.log("failed", message, traceback=traceback.format_exc())
        ctx.progress.message(f"run failed: {message}", level="error")
        ctx.failure = exc
        return
    finally:
        _close_services(ctx)
    # A run that diverged from its record and then emitted fewer events leaves
    # the old run's events past its end: they belong to no transcript now.
    store.truncate_events(ctx.events.pos)
    summary = (f"finished: {ctx.effects.executed} effects live, {ctx.effects.replayed} replayed"
               + (f", replay diverged at {ctx.effects.diverged_at}" if ctx.effects.diverged_at else ""))
    store.set_state("finished", phase="done", message=summary)
    store.log("finished", summary, executed=ctx.effects.executed, replayed=ctx.effects.replayed)


def _drop_stale_tail(ctx: RunContext) -> None:
    """After a replay divergence, events past where this run stopped came from the old path."""
    if ctx.effects.diverged_at is not None:
        ctx.store.truncate_events(ctx.events.pos)


def _close_services(ctx: RunContext) -> None:
    for service in (ctx.executor, ctx.gateway, ctx.models, ctx.tools):
        close = getattr(service, "close", None)
        if callable(close):
            close()
