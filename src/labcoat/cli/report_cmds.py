"""`labcoat check RUN` (integrity of a run's report) and `labcoat review PAPER` (the reviewer panel on any paper)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from labcoat.cli.output import console, err_console
from labcoat.errors import LabcoatError
from labcoat.store import find_run, open_store

# The artefact models, the integrity checks and the reviewers are imported by the commands
# that use them: at module level they would slow every `labcoat` invocation, --help included.


def _report_dir(run_dir: Path) -> Path:
    for candidate in (run_dir / "report", run_dir):
        if (candidate / "report.tex").is_file():
            return candidate
    raise LabcoatError(f"{run_dir} has no report.tex (in the run folder or report/); "
                       "the report phase has not written one yet")


def _reviews_json(report_dir: Path) -> dict | None:
    path = report_dir / "reviews.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LabcoatError(f"{path} cannot be read: {exc}") from exc


def paper_text(path: Path) -> str:
    """A paper's text for reviewers: a PDF's extracted text, a .tex file rendered, Markdown or text as is."""
    if not path.is_file():
        raise LabcoatError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        from labcoat.tools.fulltext import from_pdf

        doc = from_pdf(path.read_bytes(), paper_id=path.name, what=str(path))
        return "\n\n".join(f"## {s['name']}\n{s['text']}" for s in doc["sections"])
    if suffix == ".tex":
        from labcoat.tools.latex_markdown import render_markdown

        return render_markdown(path.read_text(encoding="utf-8", errors="replace"), base_dir=path.parent)
    if suffix in (".md", ".txt"):
        return path.read_text(encoding="utf-8", errors="replace")
    raise LabcoatError(f"{path}: give a .pdf, .tex, .md or .txt paper (got '{suffix or 'no extension'}')")


def _review_config(config_path: Path | None, paper: Path, overrides: list[str]):
    from labcoat.cli.config_keys import load_run_config
    from labcoat.config.loading import config_from_mapping

    if config_path is not None:
        config = load_run_config(config_path, overrides)
    else:
        config = config_from_mapping({"topic": f"review of {paper.name}"}, source="labcoat review", overrides=overrides)
    return config.model_copy(update={"phases": ["report_refinement"]})


def _print_reviews(document: dict, run_dir: Path) -> None:
    out = console()
    table = Table("reviewer", "overall", "soundness", "presentation", "contribution", "confidence", "decision")
    for review in document["reviews"]:
        table.add_row(escape(review["reviewer"]), *(str(review[k]) for k in
                      ("overall", "soundness", "presentation", "contribution", "confidence")), review["decision"])
    out.print(table)
    scores = document["aggregate"]["scores"]
    out.print("mean ± spread: " + ", ".join(f"{name} {s['mean']:.2f} ± {s['spread']:.2f}" for name, s in scores.items()),
              soft_wrap=True)
    out.print(f"panel decision: {document['decision']}", soft_wrap=True)
    out.print(escape(document["notice"].strip()), soft_wrap=True)
    out.print(f"reviews written to {escape(str(run_dir / 'reviews.json'))}", soft_wrap=True)


def register(app: typer.Typer) -> None:
    @app.command()
    def check(
        run_ref: str = typer.Argument(..., metavar="RUN", help="run id or directory"),
        runs_dir: Optional[Path] = typer.Option(None, "--runs", help="folder of runs"),
        as_json: bool = typer.Option(False, "--json", help="print integrity.json instead of a table"),
        strict: bool = typer.Option(False, "--strict", help="exit 1 on warnings too, not only on errors (for CI)"),
    ) -> None:
        """Check the report against the run: every number, citation, figure and subsampling. Writes integrity.json.

        Exits 1 when there are errors (with --strict, also when there are warnings).
        """
        from labcoat.review.run_records import integrity_inputs

        directory = find_run(run_ref, runs_dir)
        with open_store(directory, readonly=True) as store:
            artefacts = {found["name"]: found["data"] for found in store.artefacts()}
        report_dir = _report_dir(directory)
        try:
            inputs = integrity_inputs(artefacts, _reviews_json(report_dir))
        except LabcoatError as exc:
            raise LabcoatError(f"{directory}: {exc}") from exc
        report = inputs.check(report_dir)
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
        # integrity.json keeps the report's own verdict (errors only); --strict is the caller's policy.
        failed = not report.ok or (strict and bool(report.warnings))
        if not as_json:
            verdict = "FAILED" if failed else "passed"
            why = " (--strict: warnings fail too)" if failed and report.ok else ""
            out.print(f"integrity check {verdict}{why}: {len(report.errors)} error(s), {len(report.warnings)} warning(s); "
                      f"{report.counts.get('numbers_matched', 0)} of {report.counts.get('numbers_checked', 0)} numbers "
                      f"matched records; written to {escape(str(report_dir / 'integrity.json'))}", soft_wrap=True)
        if failed:
            raise typer.Exit(1)

    @app.command()
    def review(
        paper: Optional[Path] = typer.Argument(None, metavar="PAPER",
                                               help="the paper: .pdf, .tex, .md or .txt (with --resume: the recorded one)"),
        config_path: Optional[Path] = typer.Option(None, "--config", help="research config for models and budget"),
        runs_dir: Optional[Path] = typer.Option(None, "--runs", help="folder of runs (the review is kept as a run)"),
        out: Optional[Path] = typer.Option(None, "--out", help="the review's run folder; running again with the same "
                                                               "folder replays its recorded calls"),
        resume: Optional[Path] = typer.Option(None, "--resume", metavar="DIR",
                                              help="continue the review run in DIR, replaying its recorded calls"),
        overrides: list[str] = typer.Option([], "--set", help="override a config key, e.g. models.default=openai:gpt-4o"),
        as_json: bool = typer.Option(False, "--json", help="print reviews.json instead of a table"),
        model: Optional[str] = typer.Option(None, "--model", help="the reviewers' model, e.g. openai:gpt-4o"),
    ) -> None:
        """Run the three automated reviewers on any paper; scores are aggregated and written to reviews.json.

        The review is a run: `--resume DIR` (or running again with the same `--out DIR`) replays the calls it
        recorded and makes only the missing ones.
        """
        if model:
            overrides = [*overrides, f"models.default={model}", f"models.roles.reviewer={model}"]
        from labcoat.cli.progress import ReviewProgress
        from labcoat.run.runner import create_run, execute
        from labcoat.run.services import attach_models
        from labcoat.workflow import Phase, Workflow

        existing = resume if resume is not None else (out if out is not None and (out / "run.db").exists() else None)
        if existing is not None:
            if config_path is not None:
                raise LabcoatError(f"{existing} keeps the config it was started with; change keys with --set or --model")
            paper = _recorded_paper(existing, paper)
            text = paper_text(paper)
            run_dir = existing
        else:
            if paper is None:
                raise LabcoatError("give the PAPER to review (or --resume DIR to continue a review run)")
            text = paper_text(paper)
            run_dir = create_run(_review_config(config_path, paper, overrides), run_dir=out, runs=runs_dir)
            with open_store(run_dir) as store:
                store.put_artefact(REVIEW_INPUT, "input", {"paper": str(paper.resolve())})
        outcome: dict = {}
        # With --json, stdout carries only the document: progress goes to stderr.
        progress = ReviewProgress(err_console() if as_json else console(), f"review of {paper.name}")

        def run(ctx) -> dict:
            from labcoat.review.reviewer import review_paper

            document = review_paper(ctx, text, on_reviewer=progress.reviewer).document()
            (ctx.run_dir / "reviews.json").write_text(json.dumps(document, indent=2, ensure_ascii=False),
                                                      encoding="utf-8")
            outcome["document"] = document
            return document

        ctx = execute(run_dir, lambda _config: Workflow([Phase("report_refinement", run)]), attach=attach_models,
                      progress=progress, overrides=overrides if existing is not None else None,
                      resumed=existing is not None)
        if "document" not in outcome:
            with open_store(run_dir, readonly=True) as store:
                info = store.info()
            # the review is its own one-phase workflow: `labcoat resume` would not continue it
            why = (info.message or str(ctx.failure)).split(" — labcoat resume")[0]
            raise LabcoatError(f"the review did not finish ({info.shown_state}): {why}. "
                               f"`labcoat review --resume {run_dir}` continues it: the calls recorded so far "
                               "are replayed, not made again")
        calls = (f"review run {run_dir}: {ctx.effects.executed} call(s) made, "
                 f"{ctx.effects.replayed} replayed from the record")
        if as_json:
            err_console().print(escape(calls), soft_wrap=True)
            console().print(json.dumps(outcome["document"], ensure_ascii=False), soft_wrap=True, markup=False)
        else:
            _print_reviews(outcome["document"], run_dir)
            console().print(escape(calls), soft_wrap=True)


REVIEW_INPUT = "review_input"


def _recorded_paper(run_dir: Path, given: Path | None) -> Path:
    """The paper a review run was started on; a PAPER given again must be that one."""
    if not (run_dir / "run.db").is_file():
        raise LabcoatError(f"{run_dir} holds no review run (no run.db); start one with `labcoat review PAPER --out {run_dir}`")
    with open_store(run_dir, readonly=True) as store:
        recorded = store.artefact(REVIEW_INPUT)
        phases = store.config().get("phases")
    if phases != ["report_refinement"]:
        raise LabcoatError(f"{run_dir} is a research run, not a review; continue it with `labcoat resume {run_dir}`")
    if recorded is None:  # reviews started before the paper's path was recorded
        if given is None:
            raise LabcoatError(f"{run_dir} does not record which paper it reviews; give the PAPER again")
        return given
    path = Path(recorded["data"]["paper"])
    if given is not None and given.resolve() != path:
        raise LabcoatError(f"{run_dir} reviews {path}, not {given}; use another --out for another paper")
    return path
