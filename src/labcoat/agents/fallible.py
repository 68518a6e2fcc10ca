"""A model turn that may come back without a valid command.

A small model (or a bad day of a large one) can fail the reply-retry budget on
one turn. Where the work has a way on without that turn (the next dialogue
step, the next candidate, a phase's step-cap fallback), the turn is recorded as
skipped and the run continues, instead of pausing a run that nobody watches.
Replay is unaffected: the failed attempts are recorded effects, so a resumed
run reaches the same skip at the same place.
"""

from __future__ import annotations

from typing import Any

from labcoat.llm.registry import MalformedReply


def ask_or_skip(ctx: Any, **ask: Any) -> Any | None:
    """`ctx.models.ask(**ask)`'s command, or None (recorded, and warned once per phase and role)."""
    try:
        return ctx.models.ask(**ask).command
    except MalformedReply as exc:
        role = ask.get("role", "?")
        ctx.emit("turn_skipped", {"key": ask.get("key"), "role": role, "error": str(exc)})
        warning = (f"the {role.replace('_', ' ')} sent replies with no valid command in {ctx.phase or 'the run'}; "
                   "those turns were skipped (see the transcript)")
        if warning not in ctx.warnings:
            ctx.warn(warning)
        return None
