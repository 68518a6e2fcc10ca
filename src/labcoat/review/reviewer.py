"""Run the reviewer panel on a paper: one `ask` per persona, then the aggregate.

Each reviewer is a memoised LLM effect at `<key>/<persona>`, so a resumed run
serves recorded reviews; the panel's result is emitted as a `reviews` event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

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

    def describe(self) -> str:
        """`reviewer 2/3 impact started`, or `... finished: overall 4/10, reject` — one progress line."""
        who = f"reviewer {self.position}/{self.total} {self.reviewer}"
        if self.form is None:
            return f"{who} started"
        return f"{who} finished: overall {self.form.overall}/10, {self.form.decision}"


@dataclass
class PanelReviews:
    reviews: list[tuple[str, ReviewForm]]
    summary: ReviewSummary

    def document(self) -> dict[str, Any]:
        """What `reviews.json` holds."""
        return reviews_document(self.reviews, self.summary)


def review_paper(ctx: Any, paper_text: str, *, key_parts: tuple = ("review",),
                 personas: tuple[Persona, ...] = PERSONAS,
                 on_reviewer: Callable[[ReviewerUpdate], None] | None = None) -> PanelReviews:
    """Ask every persona for a review of `paper_text` (LaTeX, Markdown or PDF text).

    `on_reviewer` hears each reviewer start and finish: the calls take a while, and a
    terminal watching the panel should not sit silent meanwhile.
    """
    message = paper_message(paper_text)
    reviews: list[tuple[str, ReviewForm]] = []
    for position, reviewer in enumerate(personas, start=1):
        if on_reviewer is not None:
            on_reviewer(ReviewerUpdate(reviewer.name, position, len(personas)))
        reply = ctx.models.ask(key=ctx.key(*key_parts, reviewer.name), role="reviewer",
                               system=system_prompt(reviewer, ctx.config.language),
                               messages=[{"role": "user", "content": message}], commands=[SubmitReview])
        form = reply.command.form()
        reviews.append((reviewer.name, form))
        if on_reviewer is not None:
            on_reviewer(ReviewerUpdate(reviewer.name, position, len(personas), form))
    panel = PanelReviews(reviews, aggregate([form for _, form in reviews]))
    ctx.emit("reviews", panel.document())
    return panel
