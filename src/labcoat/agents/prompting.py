"""Render the prompts of the agents from template files.

A system prompt is the stable prefix of every call an agent makes in one
phase attempt: persona, research topic, task, language and notes; the LLM
layer appends how to reply with the commands of each call (tools describe
themselves; a JSON-constrained model gets them listed). It does not change
from step to step, so provider prompt caches hit; everything that changes
goes in the messages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labcoat.agents.roles import role as get_role
from labcoat.templating import environment

PROMPTS = Path(__file__).parent / "prompts"


class Prompts:
    """Loads and renders the template files under agents/prompts."""

    def __init__(self, root: Path = PROMPTS):
        self.env = environment(root)

    def render(self, name: str, **values: Any) -> str:
        return self.env.get_template(name).render(**values).strip()

    def system(self, *, role: str, phase: str, topic: str, language: str, notes: list[str],
               artefacts: str = "", extra: dict[str, Any] | None = None) -> str:
        """The stable system prefix of `role` in `phase`."""
        r = get_role(role)
        persona = self.render(f"roles/{role}.txt", topic=topic)
        task = self.render(f"phases/{phase}.j2", role=role, topic=topic, **(extra or {}))
        return self.render(
            "system.j2",
            title=r.title, role=role, phase=phase, persona=persona, task=task, topic=topic, language=language,
            notes=notes, artefacts=artefacts,
        )
