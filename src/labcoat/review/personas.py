"""The three reviewer personas and the prompts that brief them.

Every reviewer reads the same form instructions (prompts/reviewer.j2, the
system prompt) and the same paper; its own emphasis (prompts/personas/<name>.txt:
experiments, impact, novelty) comes last. A provider's prompt cache then
serves the form and the paper to the second and third reviewer of a version.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from labcoat.templating import environment
from labcoat.llm.vision import cached_text

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


def system_prompt(language: str = "English") -> str:
    """The reviewers' system prompt: the form, the same for every persona."""
    return environment(PROMPTS).get_template("reviewer.j2").render(language=language)


def paper_message(paper_text: str, reviewer: Persona, max_chars: int = MAX_PAPER_CHARS, *,
                  cached: bool = True) -> list[dict]:
    """The user message: the paper (cut, and saying so, beyond `max_chars`), then who reviews it.

    The paper is its own part, flagged `cached` when other reviewers read the same text next: a provider
    that caches at marks (Anthropic) then serves it to the second and third reviewer at a tenth of the
    price. A one-off read (scoring a draft) is not flagged: writing to the cache costs more than input."""
    text = paper_text.strip()
    if not text:
        raise ValueError("the paper to review is empty")
    note = ""
    if len(text) > max_chars:
        note = f"\n\n[The paper was cut here: {len(text) - max_chars} more characters were not shown.]"
        text = text[:max_chars]
    paper = f"<paper>\n{text}{note}\n</paper>"
    return [cached_text(paper) if cached else {"type": "text", "text": paper},
            {"type": "text", "text": f"{reviewer.title}: {reviewer.brief}\nReview this paper as this reviewer."}]
