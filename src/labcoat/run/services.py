"""Attach the run's services (models, research tools, executor) to a context.

Each builder lives with its layer; this module only wires them, so the
runner stays ignorant of providers, tools and process pools.
"""

from __future__ import annotations

from labcoat.workflow.context import RunContext


def attach(ctx: RunContext) -> None:
    attach_models(ctx)
    attach_tools(ctx)
    attach_executor(ctx)
    attach_gateway(ctx)


def attach_models(ctx: RunContext) -> None:
    """LLM layer: a ModelRegistry (models are built, and local servers started, on first use)."""
    from labcoat.llm.registry import ModelRegistry

    if ctx.models is None:
        ctx.models = ModelRegistry(ctx)


def attach_tools(ctx: RunContext) -> None:
    """Research tools (arXiv, local library, archive when configured, Hugging Face); nothing opens until used."""
    if ctx.tools is None:
        ctx.tools = research_tools(ctx.config, ctx.effects)


def research_tools(config, effects=None):
    """A ResearchTools for `config`, with the archive plugged in when `archive.url` is set."""
    from labcoat.tools.research import ResearchTools

    sources = {}
    if config.archive.url:
        # The tools layer sits below the archive: the archive client is plugged in here.
        from labcoat.archive.client import ArchiveClient

        sources["archive"] = ArchiveClient(config.archive.url)
    return ResearchTools(config, effects, sources=sources)


def attach_executor(ctx: RunContext) -> None:
    """Executor for sandboxed programs: `config.executor` picks the backend (workers start on first use)."""
    from labcoat.executor import make_executor

    if ctx.executor is None:
        ctx.executor = make_executor(ctx.config.executor)


def attach_gateway(ctx: RunContext) -> None:
    """Model access for experiment programs (the server starts when the first such program runs)."""
    from labcoat.gateway.run_gateway import RunGateway

    if ctx.gateway is None:
        ctx.gateway = RunGateway(ctx)
