"""Run the reviewer panel on a paper: one `ask` per persona, then the aggregate.

Each reviewer is a memoised LLM effect at `<key>/<persona>`, so a resumed run
serves recorded reviews; the panel's result is emitted as a `reviews` event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from labcoat.agents.fallible import ask_or_skip
from labcoat.errors import LabcoatError
from labcoat.review.aggregate import ReviewSummary, aggregate, reviews_document
from labcoat.review.commands import SubmitReview
from labcoat.review.form import ReviewForm
from labcoat.review.personas import PERSONAS, Persona, paper_message, system_prompt


@dataclass(frozen=True)
class ReviewerUpdate:
    """One reviewer starting (`form` is None) or finishing, for whoever watches the panel."""

    reviewer: str
    position: int  # 1-based, in the panel's order
    total: int
    form: ReviewForm | None = None
    skipped: bool = False  # the model sent no valid review form within its retries

    def describe(self) -> str:
        """`reviewer 2/3 impact started`, or `... finished: overall 4/10, reject` — one progress line."""
        who = f"reviewer {self.position}/{self.total} {self.reviewer}"
        if self.skipped:
            return f"{who} sent no valid review; the panel goes on without it"
        if self.form is None:
            return f"{who} started"
        return f"{who} finished: overall {self.form.overall}/10, {self.form.decision}"


@dataclass
class PanelReviews:
    reviews: list[tuple[str, ReviewForm]]
    summary: ReviewSummary
    skipped: list[str] = field(default_factory=list)
    language: str = "English"  # of the notice in the document

    def document(self) -> dict[str, Any]:
        """What `reviews.json` holds (and which reviewers sent no valid review, when any)."""
        doc = reviews_document(self.reviews, self.summary, self.language)
        if self.skipped:
            doc["skipped_reviewers"] = list(self.skipped)
        return doc


def review_paper(ctx: Any, paper_text: str, *, key_parts: tuple = ("review",),
                 personas: tuple[Persona, ...] = PERSONAS,
                 on_reviewer: Callable[[ReviewerUpdate], None] | None = None) -> PanelReviews:
    """Ask every persona for a review of `paper_text` (LaTeX, Markdown or PDF text).

    `on_reviewer` hears each reviewer start and finish: the calls take a while, and a
    terminal watching the panel should not sit silent meanwhile.
    """
    reviews: list[tuple[str, ReviewForm]] = []
    skipped: list[str] = []
    for position, reviewer in enumerate(personas, start=1):
        if on_reviewer is not None:
            on_reviewer(ReviewerUpdate(reviewer.name, position, len(personas)))
        # A reviewer whose model cannot fill the form is left out (recorded and warned);
        # the others still review. With none left there is no review to aggregate.
        command = ask_or_skip(ctx, key=ctx.key(*key_parts, reviewer.name), role="reviewer",
                              system=system_prompt(ctx.config.language),
                              messages=[{"role": "user", "content": paper_message(paper_text, reviewer)}],
                              commands=[SubmitReview])
        if command is None:
            skipped.append(reviewer.name)
            if on_reviewer is not None:
                on_reviewer(ReviewerUpdate(reviewer.name, position, len(personas), skipped=True))
            continue
        form = command.form()
        reviews.append((reviewer.name, form))
        if on_reviewer is not None:
            on_reviewer(ReviewerUpdate(reviewer.name, position, len(personas), form))
    if not reviews:
        raise LabcoatError(f"no reviewer sent a valid review ({', '.join(skipped)}); resume with "
                           "`--set models.reply_retries=8` or a stronger model for the reviewer role")
    panel = PanelReviews(reviews, aggregate([form for _, form in reviews]), skipped, ctx.config.language)
    ctx.emit("reviews", panel.document())
    return panel
