"""Commands of the mle-solver's ML engineer and reward model."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

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


class Verdict(BaseModel):
    """The reward model's judgement of one attempt."""

    attempt: str = Field(description="the attempt's id as shown, e.g. s2c1")
    score: float | None = Field(description="0 (useless) to 1 (excellent) for how well it serves the plan; null "
                                            "when it produced no result")
    rationale: str = Field(description="why, in one sentence")
    lesson: str = Field(description="what it teaches the next attempts, in one or two sentences")


class Assess(Command):
    """Judge every attempt shown, one verdict each."""

    command: Literal["assess"] = "assess"
    verdicts: list[Verdict]
