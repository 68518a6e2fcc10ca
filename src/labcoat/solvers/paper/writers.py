"""The agents who write the paper: a role and its stable system prompt for this phase attempt."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labcoat.agents.prompting import Prompts
from labcoat.workflow.context import RunContext


@dataclass(frozen=True)
class Writer:
    role: str
    system: str


def writer(ctx: RunContext, prompts: Prompts, role: str, *, artefacts: str = "",
           extra: dict[str, Any] | None = None) -> Writer:
    system = prompts.system(role=role, phase=ctx.phase or "", topic=ctx.config.topic, language=ctx.config.language,
                            notes=ctx.phase_notes(), artefacts=artefacts, extra=extra)
    return Writer(role, system)
