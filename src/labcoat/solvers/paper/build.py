"""One version of the paper through its checks: structure, integrity, compile, reviewer score.

The report folder holds the generated parts (references.bib,
metrics_table.tex, figures.tex, figures/) and the version being checked as
report.tex. A compile is a recorded effect whose request is the hash of
everything latexmk reads, so a replayed run skips it; its PDF is kept under
`paper_builds/<hash>/` in the run dir, where the recorded result points.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labcoat.artefacts import DataCode, LitReview, Plan, Results
from labcoat.workflow.context import RunContext
from labcoat.report.lines import document_problems
from labcoat.report.scaffold import needs_cjk, render_scaffold, tex_requirements, write_report_dir
from labcoat.report.toolchain import Toolchain, cjk_font_files, report_toolchain
from labcoat.review.commands import SubmitReview
from labcoat.review.conventions import setting_records
from labcoat.review.integrity import IntegrityReport
from labcoat.review.personas import PERSONAS, paper_message, system_prompt
from labcoat.review.run_records import check_report
from labcoat.tools.latex import NO_ISOLATION_TEX, CompileResult, compile_latex
from labcoat.tools.latex_markdown import render_markdown

BUILDS = "paper_builds"
_MISSING_FILE = re.compile(r"File [`']([^']+)' not found")
_MISSING_FONT = re.compile(r'The font "([^"]+)" cannot be found')
# The generated parts: without them the paper would lose its recorded numbers, figures or references.
REQUIRED_LINES = ((r"\input{metrics_table}", "the table of recorded metrics"),
                  (r"\input{figures}", "the recorded figures"),
                  (r"\bibliography{references}", "the bibliography of retrieved papers"))
COMPILE_TIMEOUT_S = 120.0


@dataclass
class Version:
    """A candidate paper and what the checks said about it."""

    tex: str
    compiled: bool = False
    compile_feedback: str = ""
    pdf: str | None = None  # relative to the run dir
    integrity: IntegrityReport | None = None
    score: float | None = None
    weaknesses: list[str] = field(default_factory=list)

    @property
    def integrity_errors(self) -> int:
        return len(self.integrity.errors) if self.integrity else 0

    def rank(self) -> tuple:
        """Higher is better: compiles, then fewer integrity errors, then the reviewer's score."""
        return (self.compiled, -self.integrity_errors, self.score if self.score is not None else -1.0)


class PaperBuild:
    def __init__(self, ctx: RunContext, folder: Path, *, results: Results | None, data: DataCode | None,
                 review: LitReview | None, extra_records: list[dict] | None = None, plan: Plan | None = None):
        self.ctx = ctx
        self.folder = folder
        self.results = results
        self.data = data
        self.review = review
        # what the plan, the topic and the task notes set are settings, not results (review.conventions)
        self.extra_records = [*(extra_records or []), *setting_records(
            plan=plan, topic=ctx.config.topic, notes=ctx.config.task_notes)]
        self.engine = "xelatex" if needs_cjk(ctx.config.language) else "pdf"
        self.skip_reason = ""
        self.toolchain: Toolchain | None = None
        if not ctx.config.report.compile_latex:
            self.skip_reason = "LaTeX compilation is switched off (report.compile_latex: false)"
        else:
            # Checked once when the run started (run.readiness.preflight); here only when no runner did.
            toolchain = ctx.report_toolchain or report_toolchain(ctx.config.language)
            self.toolchain = toolchain
            if not toolchain.ok:
                self.skip_reason = f"TeX cannot typeset this report here: {toolchain.reason}"

    @property
    def compiles(self) -> bool:
        return not self.skip_reason

    def lay_out(self, bib: str, figures: list[Path]) -> list[str]:
        """Write the generated parts; return the figure files included (names in figures/)."""
        metrics = [*(self.results.metrics if self.results else []), *(self.results.test_metrics if self.results else [])]
        fig_dir = self.folder / "figures"
        if fig_dir.is_dir():
            shutil.rmtree(fig_dir)  # a rerun of the phase must not keep another attempt's figures
        write_report_dir(self.folder, "", bib, metrics=metrics, figures=figures, language=self.ctx.config.language,
                         run_id=self.ctx.run_id)
        return sorted(p.name for p in fig_dir.iterdir()) if fig_dir.is_dir() else []

    def set_bib(self, bib: str) -> None:
        (self.folder / "references.bib").write_text(bib, encoding="utf-8")

    def _inputs_digest(self) -> str:
        """Hash of the generated parts latexmk reads besides report.tex."""
        digest = hashlib.sha256()
        for name in ("references.bib", "metrics_table.tex", "figures.tex", "availability.tex"):
            digest.update(name.encode() + (self.folder / name).read_bytes())
        fig_dir = self.folder / "figures"
        for path in sorted(fig_dir.iterdir()) if fig_dir.is_dir() else []:
            digest.update(path.name.encode() + path.read_bytes())
        return digest.hexdigest()

    def write(self, tex: str) -> Path:
        path = self.folder / "report.tex"
        path.write_text(tex, encoding="utf-8")
        return path

    # -- checks ------------------------------------------------------------------
    def structure(self, tex: str) -> str:
        """Why `tex` cannot be a version of the paper, or "" when it can."""
        problems = document_problems(tex)
        problems += [f"the paper must keep the line {line} (it brings in {what})"
                     for line, what in REQUIRED_LINES if line not in tex]
        return "The edit was refused: " + "; ".join(problems[:5]) if problems else ""

    def integrity(self, tex: str, library_review: LitReview | None) -> IntegrityReport:
        self.write(tex)
        return check_report(self.folder, results=self.results, data=self.data, review=library_review,
                            extra_records=self.extra_records)

    def compile(self, key: str, tex: str) -> dict:
        """Compile `tex` with the generated parts (a recorded effect); {"ok", "feedback", "pdf"}."""
        if not self.compiles:
            return {"ok": True, "skipped": self.skip_reason, "feedback": "", "pdf": None}
        tex_hash = hashlib.sha256((self._inputs_digest() + "\n" + tex).encode("utf-8")).hexdigest()

        def run() -> dict:
            self.write(tex)
            out = self.ctx.run_dir / BUILDS / tex_hash[:20]
            result = compile_latex(self.folder, "report.tex", timeout=COMPILE_TIMEOUT_S, engine=self.engine,
                                   out_dir=out)
            pdf = str(result.pdf.relative_to(self.ctx.run_dir)) if result.pdf else None
            return {"ok": result.ok, "feedback": result.feedback(), "pdf": pdf, "seconds": result.seconds,
                    "errors": [issue.describe() for issue in result.errors[:5]], "sandbox": result.sandbox,
                    "environmental": "" if result.ok else self.environmental(result)}

        outcome = self.ctx.effects.run("compile", key, {"tex_sha256": tex_hash, "engine": self.engine}, run)
        if outcome.get("sandbox") == "rlimits-only" and NO_ISOLATION_TEX not in self.ctx.warnings:
            self.ctx.warn(NO_ISOLATION_TEX)
        self.ctx.emit("paper_compile", {"key": key, "ok": outcome["ok"], "errors": outcome.get("errors", [])})
        if outcome.get("environmental"):
            # The machine's fault, not the paper's: no model call is spent on it, and no later compile.
            fix = self.toolchain.fix if self.toolchain else "scripts/setup.sh"
            self.skip_reason = (f"TeX cannot typeset this report here: {outcome['environmental']} "
                                f"(install: {fix}, or run scripts/setup.sh)")
            self.ctx.warn(f"no PDF will be made: {self.skip_reason}; the report is rendered as Markdown")
            return {"ok": True, "skipped": self.skip_reason, "feedback": "", "pdf": None}
        return outcome

    def environmental(self, result: CompileResult) -> str:
        return environmental_cause(result, self.ctx.config.language)

    def score(self, key: str, tex: str) -> tuple[float | None, list[str]]:
        """The rigour reviewer's overall score (1-10) and weaknesses; None when the
        reviewer never sent a valid form (the version then ranks as unscored)."""
        from labcoat.llm.registry import MalformedReply

        reviewer = PERSONAS[0]
        text = render_markdown(tex, base_dir=self.folder)
        try:
            reply = self.ctx.models.ask(key=key, role="reviewer",
                                        system=system_prompt(self.ctx.config.language),
                                        messages=[{"role": "user", "content": paper_message(text, reviewer, cached=False)}],
                                        commands=[SubmitReview])
        except MalformedReply as exc:
            # A score only ranks versions; an unscorable one must not stop the report.
            self.ctx.warn(f"the reviewer could not score a version of the paper ({exc}); it ranks as unscored")
            return None, []
        form = reply.command.form()
        return float(form.overall), list(form.weaknesses)

    def check(self, key: str, tex: str, library_review: LitReview | None, *, score: bool = True) -> Version:
        """Integrity, then compile, then (if it compiled) the reviewer's score."""
        version = Version(tex)
        version.integrity = self.integrity(tex, library_review)
        outcome = self.compile(f"{key}/compile", tex)
        version.compiled = bool(outcome["ok"])
        version.compile_feedback = outcome.get("feedback", "")
        version.pdf = outcome.get("pdf")
        if version.compiled and score:
            version.score, version.weaknesses = self.score(f"{key}/score", tex)
        return version

    def recorded_pdf(self, version: Version) -> Path | None:
        """The kept PDF of `version`, recompiled if the recorded file was removed."""
        if version.pdf is None:
            return None
        path = self.ctx.run_dir / version.pdf
        if path.is_file():
            return path
        self.write(version.tex)
        result = compile_latex(self.folder, "report.tex", timeout=COMPILE_TIMEOUT_S, engine=self.engine,
                               out_dir=path.parent)
        return result.pdf if result.ok else None


def environmental_cause(result: CompileResult, language: str) -> str:
    """Why a failed compile is this machine's fault (a tool, or a package or font the scaffold itself
    needs, is missing), or "" when the paper's text is to blame and the model can fix it."""
    needed = set(tex_requirements(language))
    tex = render_scaffold("t", language=language)
    preamble = tex[:tex.find(r"\begin{document}")]
    for issue in result.errors:
        if issue.kind == "unavailable":
            return issue.message
        missing = _MISSING_FILE.search(issue.message)
        if missing and (missing.group(1) in needed or missing.group(1) in cjk_font_files(preamble)):
            return f"{missing.group(1)}, which the report template loads, is not installed"
        font = _MISSING_FONT.search(issue.message)
        if font and font.group(1) in preamble:
            return f"the font {font.group(1)}, which the report template sets, is not installed"
    return ""


def feedback_of(version: Version) -> str:
    """What the writer is told about a version: compile errors, integrity findings, the reviewer's weaknesses."""
    parts = []
    if not version.compiled:
        parts.append(version.compile_feedback or "The paper did not compile.")
    elif "warning:" in version.compile_feedback:  # undefined references and citations are worth fixing too
        parts.append(version.compile_feedback)
    if version.integrity is not None:
        parts.append(version.integrity.feedback())
    if version.score is not None:
        weak = "\n".join(f"- {w}" for w in version.weaknesses[:4])
        parts.append(f"A reviewer scored this version {version.score:g}/10." + (f" Main weaknesses:\n{weak}" if weak else ""))
    return "\n\n".join(parts)


def describe(version: Version) -> dict[str, Any]:
    return {"compiled": version.compiled, "integrity_errors": version.integrity_errors, "score": version.score}
