"""What a run recorded, gathered for the integrity check, and the check of a report folder.

Recorded numbers are the metrics of every program that ran (best and
others: ablations and baselines are run output too), the numbers printed by
the programs whose metrics the results report, the data sizes and the
data-preparation output. Code texts are the best program and the data code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from pydantic import BaseModel, ValidationError

from labcoat.artefacts import DataCode, LitReview, PaperRecord, Report, Results
from labcoat.errors import LabcoatError
from labcoat.review.aggregate import NOTICE_FIGURES
from labcoat.review.integrity import IntegrityReport, check_integrity
from labcoat.review.paper_numbers import code_numbers

MAX_LOG_CHARS = 20_000
_INPUT = re.compile(r"^[^%\n]*\\input\{([^}]+)\}", re.MULTILINE)


def recorded_numbers(results: Results | None, data: DataCode | None,
                     extra: list[dict[str, Any]] | tuple = ()) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    if results is not None:
        for metric in [*results.metrics, *results.test_metrics]:
            records.append({"value": metric.value, "metric": True,
                            "source": f"{metric.source or 'results'}: {metric.name} ({metric.split})"})
        reported = {metric.source.split("/")[0] for metric in results.metrics if metric.source}
        for node in results.nodes().good():
            for metric in node.metrics:
                if isinstance(metric.get("value"), (int, float)):
                    records.append({"value": float(metric["value"]), "metric": True,
                                    "source": f"node {node.id}: {metric.get('name')}"})
            if node.id in reported:
                records += [{"value": v, "source": f"node {node.id} output"}
                            for v in code_numbers([node.stdout[:MAX_LOG_CHARS]])]
    if data is not None:
        records += [{"value": float(size), "source": f"data sizes: {split}"} for split, size in data.sizes.items()]
        records += [{"value": v, "source": "data preparation output"} for v in code_numbers([data.output[:MAX_LOG_CHARS]])]
    records += list(extra)
    return records


def code_texts(results: Results | None, data: DataCode | None) -> list[str]:
    return [text for text in ((results.best_code if results else ""), (data.code if data else "")) if text]


def retrieved_keys(review: LitReview | None) -> set[str]:
    return {paper.bibtex_key for paper in review.papers} if review else set()


def check_report(report_dir: Path, *, results: Results | None, data: DataCode | None, review: LitReview | None,
                 main: str = "report.tex", extra_records: list[dict[str, Any]] | tuple = ()) -> IntegrityReport:
    """Check `report_dir/main` and the files it `\\input`s against what the run recorded."""
    report_dir = Path(report_dir)
    tex_path = report_dir / main
    if not tex_path.is_file():
        raise FileNotFoundError(f"no report to check: {tex_path} does not exist")
    bib_path = report_dir / "references.bib"
    bib = bib_path.read_text(encoding="utf-8", errors="replace") if bib_path.is_file() else ""
    tex = tex_path.read_text(encoding="utf-8", errors="replace")
    figure_dir = report_dir / "figures"
    # generated captions name their file, and "loss_epoch_30.png" states 30 on the run's behalf
    named = [{"value": value, "source": f"figure file {path.name}"}
             for path in (sorted(figure_dir.iterdir()) if figure_dir.is_dir() else [])
             for value in code_numbers([re.sub(r"[_-]+", " ", path.stem)])]
    common = dict(recorded_numbers=recorded_numbers(results, data, [*extra_records, *named]),
                  retrieved_keys=retrieved_keys(review),
                  figure_dir=figure_dir, code_texts=code_texts(results, data))
    report = check_integrity(tex, bib, subsampling=list(data.subsampling) if data else [], **common)
    for name in dict.fromkeys(_INPUT.findall(tex)):
        included = report_dir / (name if name.endswith(".tex") else name + ".tex")
        if included.is_file() and report_dir.resolve() in included.resolve().parents:
            # an included file is a fragment: wrap it so the whole of it is checked as body text
            body = "\\begin{document}\n" + included.read_text(encoding="utf-8", errors="replace")
            part = check_integrity(body, bib, **common)
            for finding in part.findings:
                finding.line = finding.line - 1 if finding.line else None
            for matched in part.matched:
                matched["line"] -= 1
            report.merge(part, included.name)
    return report


def citable_review(review: LitReview | None, retrieved: list[PaperRecord]) -> LitReview:
    """The literature review plus the papers retrieved while writing: what the paper may cite."""
    base = review.model_copy() if review else LitReview()
    known = {p.id for p in base.papers}
    base.papers = [*base.papers, *(p for p in retrieved if p.id not in known)]
    return base


@dataclass
class IntegrityInputs:
    """What a report is checked against: the run's artefacts, the citable papers, the reviews' figures."""

    results: Results | None
    data: DataCode | None
    review: LitReview
    extra_records: list[dict[str, Any]] = field(default_factory=list)

    def check(self, report_dir: Path) -> IntegrityReport:
        return check_report(report_dir, results=self.results, data=self.data, review=self.review,
                            extra_records=self.extra_records)


def integrity_inputs(artefacts: Mapping[str, Any], reviews: Mapping[str, Any] | None = None) -> IntegrityInputs:
    """The integrity inputs of a run from its artefacts (models or their JSON) and its reviews.json, if any."""
    written = _artefact(artefacts, "report_writing", Report)
    return IntegrityInputs(
        results=_artefact(artefacts, "running_experiments", Results),
        data=_artefact(artefacts, "data_preparation", DataCode),
        review=citable_review(_artefact(artefacts, "literature_review", LitReview),
                              written.retrieved if written else []),
        extra_records=review_records(reviews) if reviews else [],
    )


def review_records(reviews: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every number the reviews notice states (reviews.json's figures), as records."""
    return [*NOTICE_FIGURES, *({"value": reviews[key], "source": f"reviews.json: {key}"}
                               for key in ("overall_mean", "overall_spread")
                               if isinstance(reviews.get(key), (int, float)))]


def _artefact(artefacts: Mapping[str, Any], name: str, model: type[BaseModel]) -> Any:
    found = artefacts.get(name)
    if found is None or isinstance(found, model):
        return found
    try:
        return model.model_validate(found)
    except ValidationError as exc:
        raise LabcoatError(f"the {name} artefact cannot be read: {exc}") from exc
