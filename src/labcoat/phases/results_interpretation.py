"""Results interpretation: the Postdoc and the PhD read the recorded metrics table.

They get the table of recorded metrics, never raw logs. A submitted
interpretation that states a number absent from the recorded results is
refused with the offending numbers, so the report starts from honest text.
"""

from __future__ import annotations

from labcoat.agents.commands import Dialogue, SubmitInterpretation
from labcoat.agents.prompting import Prompts
from labcoat.artefacts import Interpretation, Results
from labcoat.workflow.context import RunContext
from labcoat.phases.common import PhaseTalk, lit_summary, plan_summary, system_for
from labcoat.phases.numbers import unsupported_numbers

NAME = "results_interpretation"


def run(ctx: RunContext) -> Interpretation:
    cap = ctx.config.budget.steps_for(NAME, 10)
    results = ctx.artefacts.get("running_experiments")
    if not isinstance(results, Results):
        results = Results.model_validate(results or {})
    table = results.table()
    known = "\n\n".join(x for x in (lit_summary(ctx, 200), plan_summary(ctx), "Recorded metrics:\n" + table) if x)
    prompts = Prompts()
    postdoc = system_for(ctx, prompts, "postdoc", [Dialogue, SubmitInterpretation], artefacts=known)
    phd = system_for(ctx, prompts, "phd", [Dialogue], artefacts=known)
    recorded = [m.value for m in [*results.metrics, *results.test_metrics]]
    talk = PhaseTalk(ctx, cap)
    accepted = talk.converse([postdoc, phd], lambda step, cmd: _check(talk, step, cmd, recorded)
                             if isinstance(cmd, SubmitInterpretation) else None)
    if accepted is not None:
        return accepted
    ctx.warn(f"results interpretation reached its step cap ({cap}); the postdoc must submit now")
    last: SubmitInterpretation | None = None

    def final(step: int, cmd: SubmitInterpretation, _tag: str) -> Interpretation | None:
        nonlocal last
        last = cmd
        return _check(talk, step, cmd, recorded)

    accepted = talk.last_chances(postdoc, SubmitInterpretation, "Submit the interpretation now with `interpretation`.",
                                 final)
    if accepted is not None:
        return accepted
    if last is None:
        ctx.warn("no interpretation was written: the postdoc's model sent no valid `interpretation`; "
                 "the report rests on the recorded metrics alone")
        return Interpretation(text="", claims=[], numbers_used=[])
    ctx.warn("the interpretation still states numbers that were not recorded; they are kept out of the artefact")
    return Interpretation(text=last.text, claims=last.claims, numbers_used=[])


def _check(talk: PhaseTalk, step: int, cmd: SubmitInterpretation, recorded: list[float]) -> Interpretation | None:
    text = "\n".join([cmd.text, *cmd.claims])
    bad, used = unsupported_numbers(text, recorded)
    if bad:
        talk.feedback(step, "Refused: these numbers do not appear in the recorded results: "
                            + ", ".join(bad) + ". Use only numbers from the recorded metrics table.",
                      refused="unrecorded_numbers", numbers=bad)
        return None
    return Interpretation(text=cmd.text, claims=cmd.claims, numbers_used=used)
