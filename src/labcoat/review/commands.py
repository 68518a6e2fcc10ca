"""The reviewer's reply: the review form as a command (labcoat.llm.commands)."""

from __future__ import annotations

from typing import Literal

from labcoat.llm.commands import Command
from labcoat.review.form import ReviewForm


class SubmitReview(ReviewForm, Command):
    """Submit your review of the paper: every field of the form, scores within their ranges."""

    command: Literal["review"] = "review"

    def form(self) -> ReviewForm:
        return ReviewForm.model_validate(self.model_dump(exclude={"command"}))
