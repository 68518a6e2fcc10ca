"""The paper-solver loop: scaffold, draft, then edit for `budget.paper_steps`, keeping the best version.

Each edit step shows the Professor the best paper so far with line numbers
and what its checks said. The edit applies (a structural problem comes back
with its line), the candidate is checked for integrity and compiled; a
failed compile sends its first errors back for up to REPAIRS repairs. A
compiled candidate is scored by a reviewer, and it replaces the best when
it ranks at least as high (compiles, fewer integrity errors, higher score).

Every model call, search and compile is a recorded effect keyed by its
position (draft section and turn; edit step and attempt), so a resumed run
replays the paper exactly and recompiles nothing.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labcoat.agents.fallible import ask_or_skip
from labcoat.agents.prompting import Prompts
from labcoat.artefacts import LitReview, Report
from labcoat.workflow.context import RunContext
from labcoat.report.lines import EditError, body_view, edit_lines, replace_document, with_preamble
from labcoat.report.scaffold import render_scaffold
from labcoat.report.wording import wording_for
from labcoat.solvers.paper.build import PaperBuild, Version, describe, feedback_of
from labcoat.solvers.paper.commands import EditPaper, ReplacePaper
from labcoat.solvers.paper.draft import Drafter, cited_keys
from labcoat.solvers.paper.figure_check import check_figures
from labcoat.solvers.paper.inputs import PaperInputs
from labcoat.review.run_records import citable_review
from labcoat.solvers.paper.library import Library
from labcoat.solvers.paper.writers import Writer, writer
from labcoat.tools.latex_markdown import write_markdown_fallback

REPAIRS = 2


@dataclass
class StepOutcome:
    version: Version | None
    note: str = ""
    history: list[dict] = field(default_factory=list)


class PaperSolver:
    def __init__(self, ctx: RunContext, inputs: PaperInputs, folder: Path, *, extra_records: list[dict] | None = None,
                 prompts: Prompts | None = None):
        self.ctx = ctx
        self.inputs = inputs
        self.folder = folder
        self.prompts = prompts or Prompts()
        self.library = Library(inputs.review)
        self.steps = ctx.config.budget.paper_steps
        self.figure_feedback = ""
        self.build = PaperBuild(ctx, folder, results=inputs.results, data=inputs.data, review=inputs.review,
                                extra_records=extra_records, plan=inputs.plan)

    def _writer(self, role: str, **extra: object) -> Writer:
        """`role`'s writer with what every call of the paper needs in its system prompt: the question, the
        recorded metrics and the citable papers (as they stand: a search while drafting adds some)."""
        known = "\n\n".join([self.inputs.piece("question"), self.inputs.metrics_table(),
                              self.library.listing()])
        return writer(self.ctx, self.prompts, role, artefacts=known, extra=extra or None)

    def citable_review(self) -> LitReview:
        return citable_review(self.inputs.review, self.library.added)

    # -- the loop ------------------------------------------------------------------
    def run(self) -> Report:
        figures = [self.ctx.run_dir / f for f in (self.inputs.results.figures if self.inputs.results else [])]
        missing = [str(f.relative_to(self.ctx.run_dir)) for f in figures if not f.is_file()]
        report = Report(title=self.inputs.title)
        if self.ctx.config.report.compile_latex and self.build.skip_reason:
            report.warnings.append(f"no PDF will be made: {self.build.skip_reason}; the report is rendered as Markdown")
            self.ctx.warn(report.warnings[-1])
        if wording_for(self.ctx.config.language).note:
            report.warnings.append(wording_for(self.ctx.config.language).note)
            self.ctx.warn(report.warnings[-1])
        for name in missing:
            report.warnings.append(f"figure {name} was recorded but is missing; it is left out")
            self.ctx.warn(report.warnings[-1])
        report.figures = self.build.lay_out(self.library.bib(), figures)
        tex = render_scaffold(self.inputs.title, "labcoat", language=self.ctx.config.language)
        tex = Drafter(self.ctx, self.inputs, self.library, lambda: self._writer("phd"), self.prompts).draft_all(tex)
        looked = check_figures(self.ctx, self.folder / "figures", report.figures, self.inputs.metrics_table(),
                               self.prompts)
        report.figure_checks = looked.to_dict()
        for note in looked.notes:
            report.warnings.append(note)
            self.ctx.warn(note)
        self.figure_feedback = looked.feedback()
        self.build.set_bib(self.library.bib())
        best = draft = self.build.check(self.ctx.key("paper", 0), tex, self.citable_review())
        report.history.append({"step": 0, "attempt": 0, "outcome": "draft", **describe(best)})
        self.ctx.emit("paper_version", {"step": 0, "kept": True, **describe(best)})
        self._tell_score("the draft", best)
        note = ""
        for step in range(1, self.steps + 1):
            self.ctx.progress.step(self.ctx.phase or "", step, self.steps, "editing the paper")
            outcome = self._step(step, best, note)
            report.history += outcome.history
            candidate = outcome.version
            kept = candidate is not None and candidate.rank() >= best.rank()
            if candidate is not None:
                self.ctx.emit("paper_version", {"step": step, "kept": kept, **describe(candidate)})
                self._tell_score(f"step {step}'s version", candidate, ", kept" if kept else ", not kept")
            if kept:
                best, note = candidate, ""
            else:
                note = outcome.note or (f"Your edit at step {step} was not kept: it ranked below the current paper "
                                        f"({describe(candidate)} against {describe(best)}).")
        report.steps_used = self.steps
        if not best.compiled and self.ctx.config.report.compile_latex and not self.build.skip_reason:
            best = self._rescue(report, draft, best)
        return self._finish(report, best)

    def _tell_score(self, what: str, version: Version, outcome: str = "") -> None:
        """A progress line with the reviewer's score: it decides which version is kept, and takes a call to get."""
        if version.score is not None:
            self.ctx.progress.message(f"{what}: reviewer score {version.score:g}/10{outcome}")

    def _rescue(self, report: Report, draft: Version, best: Version) -> Version:
        """No version compiled: try the drafted text set as plain text (see rescue.py)."""
        from labcoat.solvers.paper.rescue import rescue

        citable = {p.bibtex_key for p in self.citable_review().papers}
        version = self.build.check(self.ctx.key("paper", "rescue"), rescue(draft.tex, citable), self.citable_review())
        report.history.append({"step": "rescue", "attempt": 0, "outcome": "plain text", **describe(version)})
        if not version.compiled:
            return best
        report.warnings.append("no version of the model's LaTeX compiled; the report sets its drafted text as "
                               "plain text (special characters escaped, citations kept)")
        self.ctx.warn(report.warnings[-1])
        return version

    def _ask_edit(self, key: str, message: str) -> Any:
        """The edit command, or None when the model sent none valid (the attempt counts as refused)."""
        return ask_or_skip(self.ctx, key=key, role="professor", system=self._writer("professor",
                                                                                   max_steps=self.steps).system,
                           messages=[{"role": "user", "content": message}], commands=[EditPaper, ReplacePaper])

    def _step(self, step: int, best: Version, note: str) -> StepOutcome:
        base, feedback = best.tex, "\n\n".join(x for x in (feedback_of(best), self.figure_feedback) if x)
        preamble, body = body_view(base)
        message = self.prompts.render("phases/report_writing_edit.j2", repair=False, step=step, steps=self.steps,
                                      last_note=note, feedback=feedback,
                                      preamble=preamble, paper=body)
        history: list[dict] = []
        for attempt in range(REPAIRS + 1):
            cmd = self._ask_edit(self.ctx.key("paper", step, "edit", attempt), message)
            try:
                if cmd is None:
                    raise EditError("your reply contained no valid `edit` or `replace` command")
                tex = edit_lines(base, cmd.start, cmd.end, cmd.new_lines) if isinstance(cmd, EditPaper) \
                    else replace_document(with_preamble(base, cmd.paper))
                refused = self.build.structure(tex)
                if refused:
                    raise EditError(refused)
            except EditError as exc:
                problem = str(exc)
                history.append({"step": step, "attempt": attempt, "outcome": "refused", "problem": problem})
                self.ctx.emit("paper_edit", {"step": step, "attempt": attempt, "refused": problem})
            else:
                version = self.build.check(self.ctx.key("paper", step, attempt), tex, self.citable_review())
                history.append({"step": step, "attempt": attempt, "outcome": "checked", **describe(version)})
                if version.compiled:
                    return StepOutcome(version, history=history)
                base, problem = tex, version.compile_feedback
            preamble, body = body_view(base)
            message = self.prompts.render("phases/report_writing_edit.j2", repair=True, step=step, attempt=attempt + 1,
                                          feedback=problem, preamble=preamble, paper=body)
        return StepOutcome(None, f"Your edit at step {step} was dropped: it still failed after {REPAIRS} repairs.",
                           history)

    # -- the outputs ---------------------------------------------------------------
    def _finish(self, report: Report, best: Version) -> Report:
        run_dir = self.ctx.run_dir
        self.build.write(best.tex)
        final = self.build.integrity(best.tex, self.citable_review())
        (self.folder / "integrity.json").write_text(json.dumps(final.to_dict(), indent=2, ensure_ascii=False),
                                                    encoding="utf-8")
        report.integrity_errors, report.integrity_warnings = len(final.errors), len(final.warnings)
        if final.errors:
            report.warnings.append(f"the report still has {len(final.errors)} integrity error(s); see integrity.json")
            self.ctx.warn(report.warnings[-1])
        report.score = best.score
        report.abstract = _abstract(best.tex)
        report.cited = sorted(cited_keys(best.tex))
        report.retrieved = list(self.library.added)
        pdf = self.build.recorded_pdf(best) if best.compiled else None
        target = self.folder / "report.pdf"
        if pdf is not None:
            shutil.copy2(pdf, target)
            report.pdf = str(target.relative_to(run_dir))
            (self.folder / "report.md").unlink(missing_ok=True)  # an earlier attempt's rendering
        else:
            target.unlink(missing_ok=True)
            reason = self.build.skip_reason or "the best version of the paper did not compile (see the edit history)"
            report.compile_note = reason
            note = wording_for(self.ctx.config.language).text("markdown_fallback", reason=reason, main="report.tex")
            report.markdown = str(write_markdown_fallback(self.folder, reason, note=note).relative_to(run_dir))
            if not self.build.skip_reason:
                report.warnings.append(f"no PDF: {reason}")
                self.ctx.warn(report.warnings[-1])
        self.ctx.emit("paper_done", {"pdf": report.pdf, "integrity_errors": report.integrity_errors,
                                     "score": report.score})
        return report


def _abstract(tex: str) -> str:
    start, end = tex.find(r"\begin{abstract}"), tex.find(r"\end{abstract}")
    return tex[start + len(r"\begin{abstract}"):end].strip() if 0 <= start < end else ""

