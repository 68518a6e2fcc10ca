"""The three reviewer personas and the prompts that brief them.

Each persona reads the same form instructions (prompts/reviewer.j2) with its
own emphasis (prompts/personas/<name>.txt): experiments, impact, novelty.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from labcoat.templating import environment

PROMPTS = Path(__file__).parent / "prompts"
MAX_PAPER_CHARS = 60_000


@dataclass(frozen=True)
class Persona:
    name: str
    title: str

    @property
    def brief(self) -> str:
        return (PROMPTS / "personas" / f"{self.name}.txt").read_text(encoding="utf-8").strip()


PERSONAS: tuple[Persona, ...] = (
    Persona("rigour", "Reviewer 1 (experiments and soundness)"),
    Persona("impact", "Reviewer 2 (impact and significance)"),
    Persona("novelty", "Reviewer 3 (novelty and related work)"),
)


def persona(name: str) -> Persona:
    for candidate in PERSONAS:
        if candidate.name == name:
            return candidate
    raise KeyError(f"no reviewer persona {name!r}; personas: {[p.name for p in PERSONAS]}")


def system_prompt(reviewer: Persona, language: str = "English") -> str:
    """The reviewer's system prompt: stable per persona, so provider caches hit."""
    return environment(PROMPTS).get_template("reviewer.j2").render(persona=reviewer.brief, language=language)


def paper_message(paper_text: str, max_chars: int = MAX_PAPER_CHARS) -> str:
    """The user message carrying the paper, cut (and saying so) beyond `max_chars`."""
    text = paper_text.strip()
    if not text:
        raise ValueError("the paper to review is empty")
    note = ""
    if len(text) > max_chars:
        note = f"\n\n[The paper was cut here: {len(text) - max_chars} more characters were not shown.]"
        text = text[:max_chars]
    return f"Review this paper.\n\n<paper>\n{text}{note}\n</paper>"
