"""The NeurIPS-style review form, as a model reviewers fill in.

Scales follow the NeurIPS reviewer guidelines: originality, quality, clarity,
significance, soundness, presentation and contribution from 1 (low/poor) to
4 (very high/excellent); overall 1-10; confidence 1-5.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ACCEPT_AT = 6.0  # the overall scale's "borderline accept": the panel's rule and each reviewer's decision


class ReviewForm(BaseModel):
    """One reviewer's review of a paper."""

    model_config = ConfigDict(extra="forbid")

    summary: str = Field(description="what the paper claims and does, in your own words")
    strengths: list[str] = Field(description="the paper's strengths, one per item")
    weaknesses: list[str] = Field(description="the paper's weaknesses, one per item, most serious first")
    originality: int = Field(ge=1, le=4, description="1 low, 2 medium, 3 high, 4 very high")
    quality: int = Field(ge=1, le=4, description="1 low, 2 medium, 3 high, 4 very high")
    clarity: int = Field(ge=1, le=4, description="1 low, 2 medium, 3 high, 4 very high")
    significance: int = Field(ge=1, le=4, description="1 low, 2 medium, 3 high, 4 very high")
    soundness: int = Field(ge=1, le=4, description="1 poor, 2 fair, 3 good, 4 excellent")
    presentation: int = Field(ge=1, le=4, description="1 poor, 2 fair, 3 good, 4 excellent")
    contribution: int = Field(ge=1, le=4, description="1 poor, 2 fair, 3 good, 4 excellent")
    questions: list[str] = Field(description="questions for the authors")
    limitations: str = Field(description="are limitations and negative societal impact addressed? what is missing?")
    ethics: str = Field(description="ethical concerns, or 'none'")
    overall: int = Field(ge=1, le=10, description="1 very strong reject, 2 strong reject, 3 reject, 4 weak reject, "
                                                   "5 borderline reject, 6 borderline accept, 7 accept, 8 strong "
                                                   "accept, 9 very strong accept, 10 award quality")
    confidence: int = Field(ge=1, le=5, description="1 educated guess, 3 fairly confident, 5 absolutely certain")
    decision: Literal["accept", "reject"] = Field(
        description=f"as your overall score says: {ACCEPT_AT:g} or more is an accept")


SCORE_FIELDS: tuple[str, ...] = ("originality", "quality", "clarity", "significance", "soundness",
                                 "presentation", "contribution", "overall", "confidence")


def score_range(name: str) -> tuple[int, int]:
    """(lowest, highest) allowed for a score field, read from the form itself."""
    if name not in SCORE_FIELDS:
        raise KeyError(f"{name!r} is not a score of the review form; scores: {list(SCORE_FIELDS)}")
    low = high = None
    for rule in ReviewForm.model_fields[name].metadata:
        low = getattr(rule, "ge", low)
        high = getattr(rule, "le", high)
    return int(low), int(high)
