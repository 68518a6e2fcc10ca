"""Runs and contexts over a real run store for LLM-layer tests (tests only).

`open_context(run_dir, config, env=...)` gives a RunContext with a
ModelRegistry attached (fast retry backoff); `ask_workflow(asks)` builds a
one-phase workflow whose phase calls `ctx.models.ask` once per entry, for
`labcoat.run.runner.execute`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from labcoat.config.schema import ResearchConfig
from labcoat.workflow.context import EventLog, RunContext
from labcoat.retry import Backoff
from labcoat.llm.registry import ModelRegistry
from labcoat.run.runner import create_run
from labcoat.store import Effects, open_store
from labcoat.workflow import Phase, Workflow

FAST = Backoff(base_s=0.01, cap_s=0.05)


class RecordingProgress:
    """Progress hooks that remember spend and messages."""

    def __init__(self) -> None:
        self.spent: list[tuple[int, float]] = []
        self.messages: list[str] = []

    def phase(self, name: str, attempt: int) -> None:
        return None

    def step(self, phase: str, step: int, total: int | None, note: str = "") -> None:
        return None

    def spend(self, tokens: int, dollars: float) -> None:
        self.spent.append((tokens, dollars))

    def message(self, text: str, *, level: str = "info") -> None:
        self.messages.append(text)


def attach_scripted(env: Mapping[str, str], **kwargs: Any) -> Callable[[RunContext], None]:
    """An `attach` for runner.execute: a ModelRegistry with `env` and fast backoff."""
    def attach(ctx: RunContext) -> None:
        ctx.models = ModelRegistry(ctx, env=env, backoff=kwargs.pop("backoff", FAST), **kwargs)
    return attach


@contextlib.contextmanager
def open_context(run_dir: Path, config: ResearchConfig, *, env: Mapping[str, str], phase: str = "literature_review",
                 **registry_kwargs: Any) -> Iterator[RunContext]:
    if not (run_dir / "run.db").exists():
        create_run(config, run_dir)
    store = open_store(run_dir)
    ctx = RunContext(config=config, store=store, run_id=run_dir.name, run_dir=run_dir, effects=Effects(store),
                     events=EventLog(store), progress=RecordingProgress())
    ctx.phase = phase
    ctx.models = ModelRegistry(ctx, env=env, backoff=registry_kwargs.pop("backoff", FAST), **registry_kwargs)
    try:
        yield ctx
    finally:
        ctx.models.close()
        store.close()


def ask_workflow(asks: list[dict], results: list | None = None) -> Callable[[ResearchConfig], Workflow]:
    """One phase (literature_review) asking each entry of `asks` (kwargs for ask, minus key) in turn."""
    def run(ctx: RunContext) -> dict:
        replies = []
        for i, kwargs in enumerate(asks):
            reply = ctx.models.ask(key=ctx.key("step", i, kwargs.get("role", "phd")),
                                   **{"role": "phd", "system": "You are a PhD student.", **kwargs})
            replies.append(reply)
            ctx.emit("asked", {"step": i, "text": reply.text,
                               "command": reply.command.model_dump() if reply.command is not None else None})
        if results is not None:
            results.append(replies)
        return {"asked": len(replies)}

    def factory(config: ResearchConfig) -> Workflow:
        return Workflow([Phase("literature_review", run)])
    return factory
