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


class Score(Command):
    """Score how well the program and its output serve the plan, from 0 (useless) to 1 (excellent), with a short rationale."""

    command: Literal["score"] = "score"
    score: float
    rationale: str


class Reflect(Command):
    """State in two or three sentences what this attempt teaches for the next ones."""

    command: Literal["reflect"] = "reflect"
    text: str
