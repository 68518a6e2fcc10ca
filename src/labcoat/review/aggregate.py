"""Scores of several reviews combined: mean and spread per score, and the notice.

The spread is the population standard deviation (three reviewers are the
whole panel, not a sample). The panel's decision follows the scores, by one
stated rule (`DECISION_RULE`): accept when the mean overall score is at least
6, the form's "borderline accept". The reviewers' own accept/reject votes are
kept beside it as their split, so a disagreement is shown, never hidden.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from labcoat.review.form import ACCEPT_AT, SCORE_FIELDS, ReviewForm

# The figures the notice quotes, as records, so the integrity check accepts them.
NOTICE_FIGURES: tuple[dict[str, Any], ...] = (
    {"value": 6.1, "source": "Agent Laboratory (arXiv 2501.04227): mean automated review score"},
    {"value": 3.8, "source": "Agent Laboratory (arXiv 2501.04227): mean human review score"},
)


DECISION_RULE = f"accept when the mean overall score is at least {ACCEPT_AT:g}/10 (borderline accept), else reject"


def decide(overall_mean: float) -> str:
    """The panel's decision from its mean overall score (see DECISION_RULE)."""
    return "accept" if overall_mean >= ACCEPT_AT else "reject"


@dataclass(frozen=True)
class ScoreStats:
    mean: float
    spread: float
    low: int
    high: int


@dataclass
class ReviewSummary:
    n: int
    scores: dict[str, ScoreStats] = field(default_factory=dict)
    decisions: dict[str, int] = field(default_factory=dict)

    @property
    def decision(self) -> str:
        return decide(self.overall)

    @property
    def split(self) -> str:
        """The reviewers' own votes, e.g. "2 accept, 1 reject"."""
        return ", ".join(f"{self.decisions[name]} {name}" for name in ("accept", "reject") if self.decisions.get(name))

    @property
    def overall(self) -> float:
        return self.scores["overall"].mean

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "decision": self.decision, "decision_rule": DECISION_RULE, "split": self.split,
                "decisions": dict(self.decisions),
                "scores": {name: asdict(stats) for name, stats in self.scores.items()}}


def aggregate(reviews: list[ReviewForm]) -> ReviewSummary:
    if not reviews:
        raise ValueError("no reviews to aggregate")
    summary = ReviewSummary(n=len(reviews))
    for name in SCORE_FIELDS:
        values = [getattr(review, name) for review in reviews]
        summary.scores[name] = ScoreStats(mean=round(statistics.fmean(values), 3),
                                          spread=round(statistics.pstdev(values), 3),
                                          low=min(values), high=max(values))
    for review in reviews:
        summary.decisions[review.decision] = summary.decisions.get(review.decision, 0) + 1
    return summary


def notice(summary: ReviewSummary, fmt: str = "md", language: str = "English") -> str:
    """The statement that reviews are automated and overrate, in Markdown ("md") or LaTeX ("tex"),
    in the run's language (its text lives with the report's other fixed strings, `report.wording`)."""
    from labcoat.report.wording import wording_for

    if fmt not in ("md", "tex"):
        raise ValueError(f"notice format must be 'md' or 'tex', not {fmt!r}")
    stats = summary.scores["overall"]
    return wording_for(language).text(f"review_notice.{fmt}", n=summary.n, overall_mean=f"{stats.mean:.1f}",
                                      overall_spread=f"{stats.spread:.1f}").strip() + "\n"


def reviews_document(reviews: list[tuple[str, ReviewForm]], summary: ReviewSummary | None = None,
                     language: str = "English") -> dict[str, Any]:
    """What `reviews.json` holds: each (reviewer, form), the aggregate, and the notice."""
    summary = summary or aggregate([form for _, form in reviews])
    return {
        "automated": True,
        "overall_mean": summary.overall,
        "overall_spread": summary.scores["overall"].spread,
        "decision": summary.decision,
        "decision_rule": DECISION_RULE,
        "split": summary.split,
        "notice": notice(summary, "md", language),
        "reviews": [{"reviewer": name, **form.model_dump()} for name, form in reviews],
        "aggregate": summary.to_dict(),
    }
