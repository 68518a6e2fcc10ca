"""Commands of the mle-solver's ML engineer and reward model."""

from __future__ import annotations

from typing import Literal

from labcoat.llm.commands import Command, fenced


class Edit(Command):
    """Replace lines `start`..`end` (inclusive, numbers as shown) with the fenced new lines; end = start-1 inserts."""

    command: Literal["edit"] = "edit"
    start: int
    end: int
    new_lines: str = fenced("python")


class Replace(Command):
    """Replace the whole program with the fenced new program."""

    command: Literal["replace"] = "replace"
    program: str = fenced("python")


class Assess(Command):
    """Judge one attempt: `score` from 0 (useless) to 1 (excellent) for how well it serves the plan, or null when it produced no result; `rationale` in one sentence; `lesson`: what it teaches the next attempts, in one or two sentences."""

    command: Literal["assess"] = "assess"
    score: float | None
    rationale: str
    lesson: str
