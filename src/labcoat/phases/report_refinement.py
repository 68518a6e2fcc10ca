"""Report refinement: three automated reviewers, then the PhD accepts or sends the run back.

The reviews (NeurIPS form, aggregated as mean and spread) go to
`report/reviews.json`. A return to plan_formulation, running_experiments or
report_writing raises `Revisit` with the reviews as that phase's notes,
while rounds remain (`budget.refinement_rounds`). A round is one such
revisit by the PhD (`ctx.revisits`); a co-pilot asking to revise this phase
re-runs it without using a round. On acceptance the paper
gains the notice that its reviews are automated and overrate, is
recompiled, checked for integrity (integrity.json) and summarised by the
Professor in `<run>/README.md`; with `archive.url` set it is published.
"""

from __future__ import annotations

import json
from typing import Literal

from labcoat.agents.dialogue import clip
from labcoat.agents.prompting import Prompts
from labcoat.artefacts import Report, Reviews
from labcoat.workflow.context import RunContext
from labcoat.errors import LabcoatError
from labcoat.llm.commands import Command
from labcoat.phases.common import system_for
from labcoat.report.wording import wording_for
from labcoat.review.aggregate import DECISION_RULE, notice
from labcoat.review.paper_numbers import stated_numbers
from labcoat.review.personas import PERSONAS
from labcoat.review.reviewer import PanelReviews, review_paper
from labcoat.review.run_records import integrity_inputs
from labcoat.solvers.paper import summary as summaries
from labcoat.solvers.paper.build import PaperBuild
from labcoat.solvers.paper.inputs import PaperInputs
from labcoat.solvers.paper.writers import writer
from labcoat.tools.latex_markdown import render_markdown, write_markdown_fallback
from labcoat.workflow import Revisit

NAME = "report_refinement"
TARGETS = ("plan_formulation", "running_experiments", "report_writing")
DECIDE_ATTEMPTS = 2


class Decide(Command):
    """Accept the paper, or send the run back to one phase (named in `phase`) saying what must change there."""

    command: Literal["decide"] = "decide"
    decision: Literal["accept", "revisit"]
    phase: str
    reason: str


def run(ctx: RunContext) -> Reviews:
    report = ctx.artefacts.get("report_writing")
    if report is None:
        raise LabcoatError("report refinement needs the report from report writing; it is missing")
    report = report if isinstance(report, Report) else Report.model_validate(report)
    folder = ctx.run_dir / report.folder
    tex_path = ctx.run_dir / report.tex
    if not tex_path.is_file():
        raise LabcoatError(f"report refinement: the report {tex_path} is missing")
    tex = tex_path.read_text(encoding="utf-8")
    personas = PERSONAS[:ctx.config.budget.reviewers]
    # Each reviewer is a long call: the run's progress says as each starts and what it scored.
    panel = review_paper(ctx, render_markdown(tex, base_dir=folder), key_parts=("reviews",), personas=personas,
                         on_reviewer=lambda update: ctx.progress.message(update.describe()))
    document = panel.document()
    (folder / "reviews.json").write_text(json.dumps(document, indent=2, ensure_ascii=False), encoding="utf-8")
    rounds_left = max(0, ctx.config.budget.refinement_rounds - ctx.revisits)
    targets = [p for p in TARGETS if p in ctx.config.phases]
    prompts = Prompts()
    outcome = Reviews(document=document, round=ctx.revisits, copilot_revisions=ctx.revisions)
    if rounds_left and targets:
        decision = _decide(ctx, prompts, panel, report, targets, rounds_left)
        outcome.reason = decision.reason
        if decision.decision == "revisit":
            outcome.decision, outcome.revisit = "revisit", decision.phase
            raise Revisit(decision.phase, _notes(panel, decision.reason), artefact=outcome)
    else:
        why = "the round bound is reached" if not rounds_left else "no earlier phase to return to"
        outcome.reason = f"accepted: {why}"
        ctx.emit("refinement_decision", {"decision": "accept", "reason": outcome.reason, **_rounds(ctx, rounds_left)})
    return _finish(ctx, prompts, report, panel, outcome)


def _decide(ctx: RunContext, prompts: Prompts, panel: PanelReviews, report: Report, targets: list[str],
            rounds_left: int) -> Decide:
    phd = system_for(ctx, prompts, "phd", [Decide], extra={"targets": ", ".join(targets)})
    feedback = ""
    summary = panel.summary.scores["overall"]
    integrity = (f"{report.integrity_errors} error(s), {report.integrity_warnings} warning(s)"
                 if report.integrity_errors or report.integrity_warnings else "passed")
    for attempt in range(DECIDE_ATTEMPTS):
        message = prompts.render("phases/report_refinement_decide.j2", mean=f"{summary.mean:.1f}",
                                 spread=f"{summary.spread:.1f}", decision=panel.summary.decision,
                                 rule=DECISION_RULE, split=panel.summary.split,
                                 reviews=_digest(panel), integrity=integrity, rounds_left=rounds_left,
                                 targets=", ".join(targets), feedback=feedback)
        cmd = ctx.models.ask(key=ctx.key("decide", attempt), role="phd", system=phd.system,
                             messages=[{"role": "user", "content": message}], commands=[Decide]).command
        if cmd.decision == "accept" or cmd.phase in targets:
            ctx.emit("refinement_decision", {"decision": cmd.decision, "phase": cmd.phase, "reason": cmd.reason,
                                             **_rounds(ctx, rounds_left)})
            return cmd
        feedback = f"Refused: '{cmd.phase}' is not a phase you can return to; choose one of {', '.join(targets)}."
    ctx.warn("the PhD named no phase it can return to; the paper is accepted as it is")
    return Decide(decision="accept", phase="", reason="no valid phase was named")


def _rounds(ctx: RunContext, rounds_left: int) -> dict:
    """The round counts a decision was made under: the PhD's revisits apart from co-pilot revisions."""
    return {"round": ctx.revisits, "rounds_left": rounds_left, "copilot_revisions": ctx.revisions}


def _digest(panel: PanelReviews, limit: int = 3) -> str:
    lines = []
    for name, form in panel.reviews:
        lines.append(f"{name}: overall {form.overall}/10, {form.decision}. {clip(form.summary, 300)}")
        lines += [f"  weakness: {clip(w, 300)}" for w in form.weaknesses[:limit]]
        lines += [f"  question: {clip(q, 200)}" for q in form.questions[:2]]
    return "\n".join(lines)


def _notes(panel: PanelReviews, reason: str) -> str:
    stats = panel.summary.scores["overall"]
    return (f"Automated reviews of the report (overall {stats.mean:.1f}/10, spread {stats.spread:.1f}; they overrate). "
            f"What must change: {reason}\n" + _digest(panel))


def _finish(ctx: RunContext, prompts: Prompts, report: Report, panel: PanelReviews, outcome: Reviews) -> Reviews:
    folder = ctx.run_dir / report.folder
    tex_path = ctx.run_dir / report.tex
    inputs = PaperInputs.from_artefacts(ctx.config.topic, ctx.artefacts)
    checked = integrity_inputs(ctx.artefacts, outcome.document)
    build = PaperBuild(ctx, folder, results=checked.results, data=checked.data, review=checked.review,
                       extra_records=checked.extra_records, plan=inputs.plan)
    tex = summaries.with_notice(tex_path.read_text(encoding="utf-8"), notice(panel.summary, "tex", ctx.config.language))
    if build.compiles and report.pdf:
        compiled = build.compile(ctx.key("final", "compile"), tex)
        if compiled["ok"] and compiled.get("pdf"):
            (folder / "report.pdf").write_bytes((ctx.run_dir / compiled["pdf"]).read_bytes())
        else:
            ctx.warn("the paper with the reviews notice did not compile; the notice is in README.md only")
            tex = tex_path.read_text(encoding="utf-8")
    build.write(tex)
    if not report.pdf:
        reason = report.compile_note or "the paper was not compiled"
        write_markdown_fallback(folder, reason, note=wording_for(ctx.config.language).text(
            "markdown_fallback", reason=reason, main="report.tex"))
    integrity = build.integrity(tex, checked.review)
    (folder / "integrity.json").write_text(json.dumps(integrity.to_dict(), indent=2, ensure_ascii=False),
                                           encoding="utf-8")
    outcome.integrity_ok = integrity.ok
    if not integrity.ok:
        ctx.warn(f"the final report has {len(integrity.errors)} integrity error(s); see {report.folder}/integrity.json")
    professor = writer(ctx, prompts, "professor")
    context = "\n\n".join(p for p in (inputs.piece("question"), inputs.piece("method"), inputs.metrics_table(),
                                      inputs.piece("interpretation"), f"Reviews:\n{_digest(panel, 2)}",
                                      integrity.feedback(6)) if p)
    plan_text = {"question": inputs.plan.question if inputs.plan else inputs.topic,
                 "method": clip(inputs.plan.method, 1500) if inputs.plan else ""}
    recorded = _summary_numbers(inputs, panel, checked.extra_records, plan_text)
    written, by_model = summaries.ask_summary(ctx, professor, prompts, context, recorded, plan_text)
    text = summaries.readme(ctx, prompts, title=report.title or inputs.title, summary=written, by_model=by_model,
                            results=inputs.results, report=report, reviews=outcome.document, integrity=integrity)
    (ctx.run_dir / "README.md").write_text(text, encoding="utf-8")
    outcome.archive_id = summaries.publish(ctx, folder, report, inputs.results, report.title or inputs.title)
    return outcome


def _summary_numbers(inputs: PaperInputs, panel: PanelReviews, extra: list[dict],
                     plan_text: dict[str, str]) -> list[float]:
    """What the README summary may state: the recorded results, the plan's own numbers ("C = 0.1") and the
    panel's scores."""
    overall = panel.summary.scores["overall"]
    return [*(r["value"] for r in build_records(inputs, extra)),
            *(n.value for text in plan_text.values() for n in stated_numbers(text)),
            *(float(form.overall) for _, form in panel.reviews), overall.mean, overall.spread]


def build_records(inputs: PaperInputs, extra: list[dict]) -> list[dict]:
    metrics = [*(inputs.results.metrics if inputs.results else []), *(inputs.results.test_metrics if inputs.results else [])]
    return [*({"value": m.value} for m in metrics), *extra]


def summarise(outcome: Reviews) -> str:
    doc = outcome.document
    return (f"Reviews: overall {doc.get('overall_mean')}/10 (spread {doc.get('overall_spread')}), panel "
            f"{doc.get('decision')}; PhD decision: {outcome.decision}"
            + (f" → {outcome.revisit}" if outcome.revisit else "") + f". {outcome.reason}")
