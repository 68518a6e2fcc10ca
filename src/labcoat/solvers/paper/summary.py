"""The run's README summary, the reviews notice in the paper, and publishing to the archive.

The Professor writes the prose (question, method, findings, limitations);
the key-results table, the review scores, the integrity verdict and the
cost are filled in from the records, never by the model.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from labcoat.agents.fallible import ask_or_skip
from labcoat.agents.prompting import Prompts
from labcoat.artefacts import Report, Results
from labcoat.workflow.context import RunContext
from labcoat.llm.commands import Command
from labcoat.report.wording import wording_for
from labcoat.review.aggregate import ACCEPT_AT
from labcoat.review.integrity import IntegrityReport
from labcoat.review.number_sources import unverified_numbers
from labcoat.solvers.paper.writers import Writer
from labcoat.tools.errors import ToolError

SUMMARY_ATTEMPTS = 2


class SubmitSummary(Command):
    """Write the run's README summary: the question, the method, the key findings (numbers only from the recorded metrics, each naming where it was recorded) and the limitations."""

    command: Literal["summary"] = "summary"
    question: str
    method: str
    findings: list[str]
    limitations: list[str]


def with_notice(tex: str, notice_tex: str) -> str:
    """The paper with the automated-reviews notice just before the closing availability statement
    (which stays the last section), else just before the bibliography."""
    closing = r"\InputIfFileExists{availability}"
    if closing not in tex and r"\bibliographystyle" in tex:  # an editor's rewrite dropped it: put it back
        at = tex.find(r"\bibliographystyle")
        tex = tex[:at] + closing + "{}{}\n" + tex[at:]
    at = tex.find(closing)
    block = "% The reviews notice: the scores below come from reviews.json.\n" + notice_tex.strip() + "\n\n"
    return tex[:at] + block + tex[at:] if at >= 0 else tex


def unrecorded(text: str, recorded: list[float]) -> list[str]:
    """Decimals and percentages in `text` that round to no recorded value and state no convention
    ("95% CI", "p < 0.05"); counts and years pass."""
    return unverified_numbers(text, [(value, "recorded") for value in recorded])[0]


def ask_summary(ctx: RunContext, speaker: Writer, prompts: Prompts, context: str, recorded: list[float],
                plan_text: dict[str, str]) -> tuple[SubmitSummary, bool]:
    """The Professor's summary. Every field is the model's prose, so every field is checked: one stating
    unrecorded numbers is refused once; then a finding or limitation that still does is left out, and a
    question or method that still does is replaced by the plan's own (`plan_text`). A model that sends no
    valid summary does not stop a finished run: the README then holds the plan's question and method and
    the records. Returns (the summary, whether the model wrote it)."""
    feedback = ""
    cmd: SubmitSummary | None = None
    for attempt in range(SUMMARY_ATTEMPTS):
        message = prompts.render("phases/report_refinement_summary.j2", context=context, feedback=feedback)
        sent = ask_or_skip(ctx, key=ctx.key("summary", attempt), role=speaker.role, system=speaker.system,
                           messages=[{"role": "user", "content": message}], commands=[SubmitSummary])
        if sent is None:
            break
        cmd = sent
        bad = sorted({n for text in _prose(cmd) for n in unrecorded(text, recorded)})
        if not bad:
            return cmd, True
        feedback = ("Refused: these numbers appear in no recorded result: " + ", ".join(bad)
                    + ". Use only numbers from the recorded metrics.")
    if cmd is None:
        ctx.warn("the professor's model sent no valid README summary; the README gives the plan's question and "
                 "method and the run's records alone")
        return SubmitSummary(question=plan_text["question"], method=plan_text["method"], findings=[],
                             limitations=[]), False
    fixed: dict[str, object] = {name: [x for x in getattr(cmd, name) if not unrecorded(x, recorded)]
                                for name in ("findings", "limitations")}
    fixed.update({name: plan_text[name] for name in ("question", "method") if unrecorded(getattr(cmd, name), recorded)})
    dropped = sum(len(getattr(cmd, name)) - len(fixed[name]) for name in ("findings", "limitations"))
    replaced = [name for name in ("question", "method") if name in fixed]
    ctx.warn("the summary still stated unrecorded numbers after a refusal: "
             + "; ".join([*([f"{dropped} finding(s) or limitation(s) left out"] if dropped else []),
                          *([f"its {' and '.join(replaced)} replaced by the plan's"] if replaced else [])]))
    return cmd.model_copy(update=fixed), True


def _prose(cmd: SubmitSummary) -> list[str]:
    return [cmd.question, cmd.method, *cmd.findings, *cmd.limitations]


def readme(ctx: RunContext, prompts: Prompts, *, title: str, summary: SubmitSummary, results: Results | None,
           report: Report, reviews: dict, integrity: IntegrityReport, by_model: bool) -> str:
    metrics = [*(results.metrics if results else []), *(results.test_metrics if results else [])]
    ledger = ctx.store.ledger()
    by_phase: dict[str, list[float]] = {}
    for row in ledger:
        totals = by_phase.setdefault(row.get("phase") or "run", [0.0, 0.0])
        totals[0] += float(row.get("dollars") or 0.0)
        totals[1] += int(row.get("input_tokens") or 0) + int(row.get("output_tokens") or 0)
    checked = integrity.to_dict()
    dollars, tokens = sum(v[0] for v in by_phase.values()), int(sum(v[1] for v in by_phase.values()))
    words = wording_for(ctx.config.language)
    w = {**words.group("readme"),  # the headings and fixed sentences, in the run's language
         "integrity_passed": words.text("readme.integrity_passed", matched=checked.get("numbers_matched", 0),
                                        checked=checked.get("numbers_checked", 0)),
         "integrity_warnings": words.text("readme.integrity_warnings", n=checked.get("warnings", 0)),
         "integrity_failed": words.text("readme.integrity_failed", errors=checked.get("errors", 0),
                                        warnings=checked.get("warnings", 0)),
         "cost_line": words.text("readme.cost_line", calls=len(ledger), tokens=tokens, dollars=f"{dollars:.4f}"),
         "bundle_text": words.text("readme.bundle_text", run_id=ctx.run_id),
         "decision_rule": words.text("readme.decision_rule", at=f"{ACCEPT_AT:g}", split=reviews.get("split") or "-")}
    return prompts.render(
        "phases/report_readme.md.j2", title=title, summary=summary, by_model=by_model, metrics=metrics,
        report=report, w=w,
        reviews=reviews, integrity=checked, findings=[f.describe() for f in integrity.findings[:10]],
        run_notes=list(dict.fromkeys(ctx.warnings)),
        by_phase={k: (round(v[0], 4), int(v[1])) for k, v in by_phase.items()}) + "\n"


def publish(ctx: RunContext, folder: Path, report: Report, results: Results | None, title: str) -> str | None:
    """Upload the report to the archive (a recorded effect); None, with a warning, when it cannot."""
    url = ctx.config.archive.url
    if not url or not ctx.config.archive.publish:
        return None
    tex_path, bib_path = folder / "report.tex", folder / "references.bib"
    pdf_path = ctx.run_dir / report.pdf if report.pdf else None
    digest = hashlib.sha256(tex_path.read_bytes()).hexdigest()
    metrics = {f"{m.name} ({m.split})": m.value for m in [*(results.metrics if results else []),
                                                        *(results.test_metrics if results else [])]}
    metadata = {"title": title, "abstract": report.abstract or title, "topic": ctx.config.topic, "metrics": metrics,
                "run_id": ctx.run_id, "lab": ctx.config.archive.lab or "labcoat"}

    def upload() -> dict:
        try:
            archive = ctx.tools.source("archive")  # the run's archive client (`run.services`)
            return {"id": archive.publish(pdf_path, tex_path, bib_path if bib_path.is_file() else None, metadata)}
        except ToolError as exc:
            return {"error": str(exc), "kind": exc.kind}

    result = ctx.effects.run("archive", ctx.key("publish"), {"url": url, "tex_sha256": digest}, upload)
    if "error" in result:
        ctx.warn(f"the report was not published to the archive at {url}: {result['error']}")
        return None
    ctx.emit("published", {"archive_id": result["id"], "url": url})
    return str(result["id"])
