"""Results interpretation: the Postdoc and the PhD read the recorded metrics table.

They get the table of recorded metrics, never raw logs. A submitted
interpretation is checked with the same vocabulary as the paper
(`review.number_sources`): a decimal or percentage must match a recorded
value, a number the plan or the task notes set, a literal of the recorded
code or a number a program printed, or state a convention ("95% CI",
"p < 0.05"). The guard refuses a set of unverified numbers once: a
resubmission that still states them is accepted with each marked
"[unverified]" and listed as a warning, so no refusal costs more than two
model calls (the other agent's turn and the resubmission).
"""

from __future__ import annotations

from labcoat.agents.commands import Dialogue, SubmitInterpretation
from labcoat.agents.prompting import Prompts
from labcoat.artefacts import DataCode, Interpretation, Results
from labcoat.phases.common import PhaseTalk, lit_summary, plan_summary, system_for
from labcoat.review.conventions import mark_unverified, setting_records
from labcoat.review.number_sources import candidates, ratios, unverified_numbers
from labcoat.review.run_records import code_texts, recorded_numbers
from labcoat.workflow.context import RunContext

NAME = "results_interpretation"


class NumberGuard:
    """Refuses unverified numbers once; accepts them, marked, when they come back."""

    def __init__(self, ctx: RunContext, results: Results, data: DataCode | None):
        records = recorded_numbers(results, data, setting_records(
            plan=ctx.artefacts.get("plan_formulation"), topic=ctx.config.topic, notes=ctx.config.task_notes))
        self.ctx = ctx
        self.pool = candidates(records, code_texts(results, data))
        self.ratios = ratios(records)
        self.refused: set[str] = set()

    def check(self, talk: PhaseTalk, step: int, cmd: SubmitInterpretation) -> Interpretation | None:
        bad, matched = unverified_numbers("\n".join([cmd.text, *cmd.claims]), self.pool, self.ratios)
        used = sorted({m["value"] for m in matched if not m["source"].startswith("convention")})
        if not bad:
            return Interpretation(text=cmd.text, claims=cmd.claims, numbers_used=used)
        fresh = [n for n in bad if n not in self.refused]
        if fresh and not self.refused:
            self.refused.update(bad)
            talk.feedback(step, "Refused once: these numbers match no recorded result, no number of the plan or "
                                "the code, and no stated convention: " + ", ".join(bad) + ". Use the recorded metrics "
                                "table, or say what the number is (e.g. \"95% CI\", \"p < 0.05\"). If you submit them "
                                "again they are kept, marked [unverified].",
                          refused="unrecorded_numbers", numbers=bad)
            return None
        warning = (f"the interpretation states numbers that match no recorded result: {', '.join(bad)}; "
                   + ("the postdoc was refused once and submitted them again, so they are kept, each marked "
                      "[unverified] in the interpretation" if not fresh else
                      "the guard refuses only once per phase, so they are kept, each marked [unverified] "
                      "in the interpretation"))
        self.ctx.warn(warning)
        talk.feedback(step, "Accepted with unverified numbers marked: " + ", ".join(bad) + ".",
                      accepted_unverified=bad)
        return Interpretation(text=mark_unverified(cmd.text, bad),
                              claims=[mark_unverified(claim, bad) for claim in cmd.claims],
                              numbers_used=used, unverified=bad, warnings=[warning])


def run(ctx: RunContext) -> Interpretation:
    cap = ctx.config.budget.steps_for(NAME, 10)
    results = ctx.artefacts.get("running_experiments")
    if not isinstance(results, Results):
        results = Results.model_validate(results or {})
    data = ctx.artefacts.get("data_preparation")
    if data is not None and not isinstance(data, DataCode):
        data = DataCode.model_validate(data)
    table = results.table()
    known = "\n\n".join(x for x in (lit_summary(ctx, 200), plan_summary(ctx), "Recorded metrics:\n" + table) if x)
    prompts = Prompts()
    postdoc = system_for(ctx, prompts, "postdoc", [Dialogue, SubmitInterpretation], artefacts=known)
    phd = system_for(ctx, prompts, "phd", [Dialogue], artefacts=known)
    guard = NumberGuard(ctx, results, data)
    talk = PhaseTalk(ctx, cap)
    accepted = talk.converse([postdoc, phd], lambda step, cmd: guard.check(talk, step, cmd)
                             if isinstance(cmd, SubmitInterpretation) else None, own_guard=(SubmitInterpretation,))
    if accepted is not None:
        return accepted
    ctx.warn(f"results interpretation reached its step cap ({cap}); the postdoc must submit now")
    # two chances: a refusal costs at most one more call
    accepted = talk.last_chances(postdoc, SubmitInterpretation, "Submit the interpretation now with `interpretation`.",
                                 lambda step, cmd, _tag: guard.check(talk, step, cmd), tags=("final0", "final1"))
    if accepted is not None:
        return accepted
    ctx.warn("no interpretation was written: the postdoc's model sent no valid `interpretation`; "
             "the report rests on the recorded metrics alone")
    return Interpretation(text="", claims=[], numbers_used=[])
