"""The artefacts phases hand to each other: what a run produces, phase by phase.

Each is a pydantic model stored (as JSON) in the run store's `artefacts`
table under its phase's name, and passed to later phases through
`ctx.artefacts`. Fields hold what the next phase and the final report need,
nothing derived: views are properties.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from labcoat.journal import Journal, Node


class PaperRead(BaseModel):
    """Text of a paper an agent was shown: which part, how, and the text (the integrity check reads it)."""

    part: str = Field(description='"abstract", or the section read ("start" for the opening of the paper)')
    how: str = Field(description="how it reached an agent, e.g. shown in search results and added with a summary")
    text: str = ""

    @classmethod
    def abstract(cls, abstract: str, shown_chars: int, how: str) -> "PaperRead":
        """The abstract as far as a prompt showed it: a number past what was shown was never read."""
        text = " ".join(abstract.split())
        if len(text) <= shown_chars:
            return cls(part="abstract", how=how, text=text)
        return cls(part=f"abstract (first {shown_chars} characters)", how=how, text=text[:shown_chars])


class PaperRecord(BaseModel):
    """A paper the PhD added to the review, with why it matters."""

    # identity and metadata, as retrieved
    id: str
    title: str
    authors: list[str] = Field(default_factory=list)
    year: int | None = None
    source: str = "arxiv"
    url: str | None = None
    # the PhD's own reading
    summary: str
    # citation
    bibtex_key: str
    bibtex: str
    # what of it the run read; None for records made before reading was tracked
    reads: list[PaperRead] | None = None

    @property
    def read(self) -> bool:
        """Some of its text reached an agent (None: not tracked, taken as read)."""
        return self.reads is None or any(r.text.strip() for r in self.reads)


class LitReview(BaseModel):
    papers: list[PaperRecord] = Field(default_factory=list)
    target: int = 0
    steps_used: int = 0
    unavailable_sources: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)

    @property
    def bib(self) -> str:
        return "\n\n".join(p.bibtex for p in self.papers)


class MetricSpec(BaseModel):
    name: str
    higher_is_better: bool = True
    split: Literal["dev", "test", "train", "cv"] = "dev"
    description: str = ""


class DatasetSpec(BaseModel):
    name: str
    source: str = ""
    notes: str = ""


class Plan(BaseModel):
    question: str
    hypotheses: list[str] = Field(default_factory=list)
    datasets: list[DatasetSpec] = Field(default_factory=list)
    method: str = ""
    baselines: list[str] = Field(default_factory=list)
    metrics: list[MetricSpec] = Field(default_factory=list)
    protocol: str = Field("", description="dev/test protocol: model selection on dev only, test once at the end")
    figures: list[str] = Field(default_factory=list)
    compute_budget: str = ""

    @property
    def primary_metric(self) -> MetricSpec | None:
        return self.metrics[0] if self.metrics else None


class DataCode(BaseModel):
    """The accepted data-preparation program and the record of the data it makes."""

    code: str
    data_source: str = ""
    data_version: str = ""
    sizes: dict[str, int] = Field(default_factory=dict)
    splits: list[str] = Field(default_factory=list)
    subsampling: list[str] = Field(default_factory=list, description="every subsampling, stated; never silent")
    output: str = ""
    data_dir: str | None = Field(None, description="prepared data, relative to the run dir; mounted read-only into experiments")
    attempts: int = 0
    fallback: bool = Field(False, description="the agents' code never ran; labcoat's bundled-data program was used")


class MetricValue(BaseModel):
    name: str
    value: float
    split: str = "dev"
    higher_is_better: bool = True
    source: str = Field("", description="where the number was recorded (node id, file)")


class Results(BaseModel):
    """What the experiments produced (filled by the mle-solver)."""

    best_code: str = ""
    metrics: list[MetricValue] = Field(default_factory=list)
    test_metrics: list[MetricValue] = Field(default_factory=list)
    figures: list[str] = Field(default_factory=list)
    journal: list[Node] = Field(default_factory=list, description="every program the mle-solver tried")
    best: str | None = Field(None, description="the id of the journal node whose code and metrics are reported")
    notes: list[str] = Field(default_factory=list)

    @field_validator("journal", mode="before")
    @classmethod
    def _nodes(cls, value: Any) -> Any:
        # Older stores wrote plain dicts, some with fields this version does not know.
        return [Node.from_json(v) if isinstance(v, dict) else v for v in value] if isinstance(value, list) else value

    def nodes(self) -> Journal:
        """The journal with its views; `best` falls back to the node the metrics name (older stores)."""
        best = self.best or next((m.source.split("/")[0] for m in self.metrics if m.source), None)
        return Journal.of(self.journal, best)

    def table(self) -> str:
        """The recorded metrics as a plain table for agents: no raw logs."""
        rows = [f"| {m.name} | {m.split} | {m.value:.6g} | {'higher' if m.higher_is_better else 'lower'} is better | {m.source} |"
                for m in [*self.metrics, *self.test_metrics]]
        head = "| metric | split | value | direction | recorded in |\n|---|---|---|---|---|"
        return "\n".join([head, *rows]) if rows else "(no metrics were recorded)"


class Interpretation(BaseModel):
    text: str
    claims: list[str] = Field(default_factory=list)
    numbers_used: list[float] = Field(default_factory=list)
    unverified: list[str] = Field(default_factory=list, description="numbers kept after one refusal, marked [unverified]")
    warnings: list[str] = Field(default_factory=list)


class Report(BaseModel):
    """The written paper: where its files are (relative to the run dir) and how it was checked."""

    folder: str = "report"
    tex: str = "report/report.tex"
    bib: str = "report/references.bib"
    pdf: str | None = Field(None, description="None when the paper was not compiled (see compile_note)")
    markdown: str | None = None
    compile_note: str = ""
    title: str = ""
    abstract: str = ""
    cited: list[str] = Field(default_factory=list)
    figures: list[str] = Field(default_factory=list)
    figure_checks: dict = Field(default_factory=dict, description="what a model that sees images said of each figure")
    integrity_errors: int = 0
    integrity_warnings: int = 0
    score: float | None = Field(None, description="the reviewer's overall score of the kept version")
    steps_used: int = 0
    history: list[dict] = Field(default_factory=list, description="one entry per candidate: step, outcome, score")
    retrieved: list[PaperRecord] = Field(default_factory=list, description="papers found while writing; citable too")
    warnings: list[str] = Field(default_factory=list)


class Reviews(BaseModel):
    """The reviewer panel's verdict on the report and what the PhD decided."""

    document: dict = Field(default_factory=dict, description="what reviews.json holds")
    decision: Literal["accept", "revisit"] = "accept"
    revisit: str | None = None
    reason: str = ""
    round: int = Field(0, description="the PhD's revisits before this review (each uses a refinement round)")
    copilot_revisions: int = Field(0, description="co-pilot revisions of this phase before it; they use no rounds")
    integrity_ok: bool | None = None
    archive_id: str | None = None
