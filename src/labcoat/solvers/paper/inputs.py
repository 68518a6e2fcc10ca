"""What the paper is written from, and the bounded slice of it each section needs.

What every section uses (the question, the recorded metrics, the citable
papers) sits once in the writers' system prompt, which a provider caches;
a section's message carries only what that section adds (the method and the
program for the methods, the interpretation for the discussion), each piece
clipped, so the tokens of a drafting step stay flat however large the run's
artefacts grow.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from labcoat.agents.dialogue import clip
from labcoat.artefacts import DataCode, Interpretation, LitReview, Plan, Results
from labcoat.report.scaffold import figure_names
from labcoat.report.tables import figure_label


TITLE_WORDS = 15
# "Research question.", "Question:", "RQ1 -", "Topic:" are labels of a plan, not part of a title
_LABEL = re.compile(r"^\s*(?:(?:the\s+)?(?:main\s+|primary\s+)?research\s+questions?|questions?|rq\s*\d*|topic|aim|goal)"
                    r"\s*\d*\s*[:.\-\u2013\u2014)]\s*", re.IGNORECASE)
_CLAUSE = re.compile(r"\s*(?:[,;:(]|\s[\u2013\u2014-]\s)\s*")
_TRAILING = frozenset("a an and as at by for from in into of on or the to under versus vs when whether which while with".split())


def paper_title(question: str) -> str:
    """A title for the paper from the plan's question: no label, at most TITLE_WORDS words.

    A longer question keeps its first clause; if that is still too long it is cut
    at a word that can end a title (not "of", "the", "and").
    """
    text = " ".join(question.split())
    while True:
        stripped = _LABEL.sub("", text, count=1)
        if stripped == text:
            break
        text = stripped
    text = text.strip().rstrip(".")
    words = text.split()
    if len(words) <= TITLE_WORDS:
        return text
    first = _CLAUSE.split(text, maxsplit=1)[0].split()
    words = first if 3 <= len(first) <= TITLE_WORDS else words[:TITLE_WORDS]
    while len(words) > 1 and words[-1].lower().strip(",;:") in _TRAILING:
        words.pop()
    return " ".join(words).rstrip(",;:?.")


def _as(model: type, value: Any) -> Any:
    if value is None or isinstance(value, model):
        return value
    return model.model_validate(value)


@dataclass
class PaperInputs:
    topic: str
    review: LitReview | None
    plan: Plan | None
    data: DataCode | None
    results: Results | None
    interpretation: Interpretation | None

    @classmethod
    def from_artefacts(cls, topic: str, artefacts: dict[str, Any]) -> "PaperInputs":
        return cls(topic=topic,
                   review=_as(LitReview, artefacts.get("literature_review")),
                   plan=_as(Plan, artefacts.get("plan_formulation")),
                   data=_as(DataCode, artefacts.get("data_preparation")),
                   results=_as(Results, artefacts.get("running_experiments")),
                   interpretation=_as(Interpretation, artefacts.get("results_interpretation")))

    @property
    def title(self) -> str:
        return paper_title(self.plan.question if self.plan and self.plan.question else self.topic)

    def metrics_table(self) -> str:
        return "Recorded metrics (the paper's table is generated from these):\n" + (
            self.results.table() if self.results else "(no experiments were run)")

    # -- pieces ------------------------------------------------------------------
    def piece(self, name: str) -> str:
        plan, data, results, interp = self.plan, self.data, self.results, self.interpretation
        if name == "question":
            return f"Research question: {plan.question if plan else self.topic}"
        if name == "hypotheses" and plan and plan.hypotheses:
            return "Hypotheses:\n" + "\n".join(f"- {h}" for h in plan.hypotheses)
        if name == "method" and plan:
            baselines = f"\nBaselines: {', '.join(plan.baselines)}" if plan.baselines else ""
            return f"Method: {clip(plan.method, 1500)}{baselines}"
        if name == "protocol" and plan:
            metrics = ", ".join(f"{m.name} ({m.split}, {'higher' if m.higher_is_better else 'lower'} is better)"
                                for m in plan.metrics)
            datasets = "; ".join(f"{d.name} ({d.source})" for d in plan.datasets)
            return f"Datasets: {datasets or 'none named'}\nMetrics: {metrics or 'none named'}\nProtocol: {plan.protocol}"
        if name == "data" and data:
            lines = [f"Data source: {data.data_source or 'not stated'} {data.data_version}".rstrip()]
            if data.sizes:
                lines.append("Split sizes: " + ", ".join(f"{k}={v}" for k, v in data.sizes.items()))
            lines.append("Subsampling (must be stated in the paper): "
                         + ("; ".join(data.subsampling) if data.subsampling else "none"))
            return "\n".join(lines)
        if name == "code" and results and results.best_code:
            return f"The best experiment program (excerpt):\n```python\n{clip(results.best_code, 2500)}\n```"
        if name == "metrics":
            return self.metrics_table()
        if name == "figures" and results:
            labels = [figure_label(name) for name in figure_names(results.figures)]
            return ("Figures (already included after the table; refer to them with \\ref, never include them "
                    "again): " + ", ".join(labels)) if labels else "No figures were recorded."
        if name == "interpretation" and interp:
            claims = "\n".join(f"- {c}" for c in interp.claims)
            return f"Interpretation of the results:\n{clip(interp.text, 2000)}" + (f"\nClaims:\n{claims}" if claims else "")
        if name == "notes" and results and results.notes:
            return "Notes on the experiments: " + "; ".join(results.notes)
        return ""


# What each section is drafted from, beyond what every drafting call has in its
# system prompt (the question, the recorded metrics and the citable papers).
SECTION_PIECES: dict[str, tuple[str, ...]] = {
    "introduction": ("hypotheses", "interpretation"),
    "background": ("method",),
    "related_work": (),
    "methods": ("method", "code"),
    "experimental_setup": ("protocol", "data", "code"),
    "results": ("figures", "interpretation", "notes"),
    "discussion": ("hypotheses", "interpretation", "notes"),
    "abstract": ("interpretation",),
}
