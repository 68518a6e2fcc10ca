"""Run the reviewer panel on a paper: one `ask` per persona, then the aggregate.

Each reviewer is a memoised LLM effect at `<key>/<persona>`, so a resumed run
serves recorded reviews; the panel's result is emitted as a `reviews` event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labcoat.review.aggregate import ReviewSummary, aggregate, reviews_document
from labcoat.review.commands import SubmitReview
from labcoat.review.form import ReviewForm
from labcoat.review.personas import PERSONAS, Persona, paper_message, system_prompt


@dataclass
class PanelReviews:
    reviews: list[tuple[str, ReviewForm]]
    summary: ReviewSummary

    def document(self) -> dict[str, Any]:
        """What `reviews.json` holds."""
        return reviews_document(self.reviews, self.summary)


def review_paper(ctx: Any, paper_text: str, *, key_parts: tuple = ("review",),
                 personas: tuple[Persona, ...] = PERSONAS) -> PanelReviews:
    """Ask every persona for a review of `paper_text` (LaTeX, Markdown or PDF text)."""
    message = paper_message(paper_text)
    reviews: list[tuple[str, ReviewForm]] = []
    for reviewer in personas:
        reply = ctx.models.ask(key=ctx.key(*key_parts, reviewer.name), role="reviewer",
                               system=system_prompt(reviewer, ctx.config.language),
                               messages=[{"role": "user", "content": message}], commands=[SubmitReview])
        reviews.append((reviewer.name, reply.command.form()))
    panel = PanelReviews(reviews, aggregate([form for _, form in reviews]))
    ctx.emit("reviews", panel.document())
    return panel
