"""Plan formulation: the Postdoc and the PhD talk until the Postdoc submits a plan.

At the step cap the Postdoc gets one last turn in which submitting the plan
is the only command allowed, so the phase always ends.
"""

from __future__ import annotations

from labcoat.agents.commands import Dialogue, SubmitPlan
from labcoat.agents.prompting import Prompts
from labcoat.artefacts import Plan
from labcoat.workflow.context import RunContext
from labcoat.errors import LabcoatError
from labcoat.phases.common import PhaseTalk, lit_summary, system_for

NAME = "plan_formulation"


def run(ctx: RunContext) -> Plan:
    cap = ctx.config.budget.steps_for(NAME, 12)
    prompts = Prompts()
    known = lit_summary(ctx)
    postdoc = system_for(ctx, prompts, "postdoc", [Dialogue, SubmitPlan], artefacts=known)
    phd = system_for(ctx, prompts, "phd", [Dialogue], artefacts=known)
    talk = PhaseTalk(ctx, cap)
    check = PlanCheck(ctx, talk)
    plan = talk.converse([postdoc, phd], lambda step, cmd: check(step, cmd) if isinstance(cmd, SubmitPlan) else None,
                         own_guard=(SubmitPlan,))
    if plan is not None:
        return plan
    ctx.warn(f"plan formulation reached its step cap ({cap}) without a plan; the postdoc must submit one now")
    plan = talk.last_chances(postdoc, SubmitPlan, "The discussion is over: submit the plan now with `plan`.",
                             lambda step, cmd, _tag: check(step, cmd), tags=("final", "final1", "final2"))
    if plan is not None:
        return plan
    # Nothing downstream can run without a plan: pause, resumable with another model or more retries.
    raise LabcoatError(f"plan formulation ended without a plan: the postdoc's model sent no valid `plan` in three "
                       f"final turns; resume with `labcoat resume {ctx.run_id} --set models.reply_retries=8` or "
                       "a stronger model for the postdoc")


class PlanCheck:
    """Accepts a submitted plan; one that names no metric is refused once (the experiment search ranks
    programs by the plan's first metric), then kept with a warning."""

    def __init__(self, ctx: RunContext, talk: PhaseTalk):
        self.ctx, self.talk = ctx, talk
        self.refused = False

    def __call__(self, step: int, cmd: SubmitPlan) -> Plan | None:
        data = cmd.model_dump(mode="python")
        data.pop("command", None)
        plan = Plan.model_validate(data)
        if not plan.metrics:
            if not self.refused:
                self.refused = True
                self.talk.feedback(step, "Refused once: the plan names no metric. Name at least one in `metrics` "
                                         "(its name as the program will record it, the split it is selected on, "
                                         "and whether higher is better): the experiment search ranks programs by "
                                         "the first. Submitted again without one, the plan is kept and programs "
                                         "are ranked by the reviewer's scores alone.", refused="no_metric")
                return None
            self.ctx.warn("the plan names no metric: the postdoc was refused once and submitted it again without "
                          "one, so it is kept")
        self.ctx.emit("plan", {"question": plan.question, "metrics": [m.name for m in plan.metrics]})
        return plan


def summarise(plan: Plan) -> str:
    lines = [f"Question: {plan.question}"]
    lines += [f"Hypothesis: {h}" for h in plan.hypotheses]
    lines.append("Datasets: " + ", ".join(d.name for d in plan.datasets))
    lines.append(f"Method: {plan.method}")
    lines.append("Baselines: " + ", ".join(plan.baselines))
    lines.append("Metrics: " + ", ".join(f"{m.name} ({'↑' if m.higher_is_better else '↓'}, {m.split})"
                                         for m in plan.metrics))
    lines.append(f"Protocol: {plan.protocol}")
    return "\n".join(lines)
