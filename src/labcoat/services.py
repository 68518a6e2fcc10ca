"""Attach the run's services (models, research tools, executor) to a context.

Each builder lives with its layer; this module only wires them, so the
runner stays ignorant of providers, tools and process pools.
"""

from __future__ import annotations

from labcoat.context import RunContext


def attach(ctx: RunContext) -> None:
    attach_models(ctx)
    attach_tools(ctx)
    attach_executor(ctx)


def attach_models(ctx: RunContext) -> None:
    """LLM layer: filled in by labcoat.llm."""


def attach_tools(ctx: RunContext) -> None:
    """Research tools: filled in by labcoat.tools."""


def attach_executor(ctx: RunContext) -> None:
    """Executor for sandboxed programs: `config.executor` picks the backend (workers start on first use)."""
    from labcoat.executor import make_executor

    if ctx.executor is None:
        ctx.executor = make_executor(ctx.config.executor)
