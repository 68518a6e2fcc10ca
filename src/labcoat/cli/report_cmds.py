"""`labcoat check RUN`: the integrity check of a run's report, on demand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from pydantic import BaseModel, ValidationError
from rich.markup import escape
from rich.table import Table

from labcoat.artefacts import DataCode, LitReview, Results
from labcoat.cli.output import console
from labcoat.errors import LabcoatError
from labcoat.review.aggregate import NOTICE_FIGURES
from labcoat.review.run_records import check_report
from labcoat.store import find_run, open_store


def _artefact(store, name: str, model: type[BaseModel]) -> BaseModel | None:
    found = store.artefact(name)
    if found is None:
        return None
    try:
        return model.model_validate(found["data"])
    except ValidationError as exc:
        raise LabcoatError(f"the {name} artefact of {store.run_dir} cannot be read: {exc}") from exc


def _report_dir(run_dir: Path) -> Path:
    for candidate in (run_dir / "report", run_dir):
        if (candidate / "report.tex").is_file():
            return candidate
    raise LabcoatError(f"{run_dir} has no report.tex (in the run folder or report/); "
                       "the report phase has not written one yet")


def _review_records(report_dir: Path) -> list[dict]:
    """The numbers the review notice states, when the reviews exist."""
    path = report_dir / "reviews.json"
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LabcoatError(f"{path} cannot be read: {exc}") from exc
    return [*NOTICE_FIGURES, *({"value": data[key], "source": f"reviews.json: {key}"}
                               for key in ("overall_mean", "overall_spread") if isinstance(data.get(key), (int, float)))]


def register(app: typer.Typer) -> None:
    @app.command()
    def check(
        run_ref: str = typer.Argument(..., metavar="RUN", help="run id or directory"),
        runs_dir: Optional[Path] = typer.Option(None, "--runs", help="folder of runs"),
        as_json: bool = typer.Option(False, "--json", help="print integrity.json instead of a table"),
    ) -> None:
        """Check the report against the run: every number, citation, figure and subsampling. Writes integrity.json."""
        directory = find_run(run_ref, runs_dir)
        with open_store(directory, readonly=True) as store:
            results = _artefact(store, "running_experiments", Results)
            data = _artefact(store, "data_preparation", DataCode)
            review = _artefact(store, "literature_review", LitReview)
        report_dir = _report_dir(directory)
        report = check_report(report_dir, results=results, data=data, review=review,
                              extra_records=_review_records(report_dir))
        document = report.to_dict()
        (report_dir / "integrity.json").write_text(json.dumps(document, indent=2, ensure_ascii=False), encoding="utf-8")
        out = console()
        if as_json:
            out.print(json.dumps(document, ensure_ascii=False), soft_wrap=True, markup=False)
        elif report.findings:
            table = Table("severity", "where", "problem", "fix")
            for finding in report.findings:
                where = f"{finding.file or 'report.tex'}:{finding.line}" if finding.line else (finding.file or "-")
                table.add_row(finding.severity, where, escape(finding.message), escape(finding.fix))
            out.print(table)
        if not as_json:
            verdict = "passed" if report.ok else "FAILED"
            out.print(f"integrity check {verdict}: {len(report.errors)} error(s), {len(report.warnings)} warning(s); "
                      f"{report.counts.get('numbers_matched', 0)} of {report.counts.get('numbers_checked', 0)} numbers "
                      f"matched records; written to {escape(str(report_dir / 'integrity.json'))}", soft_wrap=True)
        if not report.ok:
            raise typer.Exit(1)
