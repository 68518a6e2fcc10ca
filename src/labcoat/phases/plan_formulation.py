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
    plan = talk.converse([postdoc, phd], lambda _step, cmd: _accept(ctx, cmd) if isinstance(cmd, SubmitPlan) else None)
    if plan is not None:
        return plan
    ctx.warn(f"plan formulation reached its step cap ({cap}) without a plan; the postdoc must submit one now")
    plan = talk.last_chances(postdoc, SubmitPlan, "The discussion is over: submit the plan now with `plan`.",
                             lambda _step, cmd, _tag: _accept(ctx, cmd), tags=("final", "final1", "final2"))
    if plan is not None:
        return plan
    # Nothing downstream can run without a plan: pause, resumable with another model or more retries.
    raise LabcoatError(f"plan formulation ended without a plan: the postdoc's model sent no valid `plan` in three "
                       f"final turns; resume with `labcoat resume {ctx.run_id} --set models.reply_retries=8` or "
                       "a stronger model for the postdoc")


def _accept(ctx: RunContext, cmd: SubmitPlan) -> Plan:
    data = cmd.model_dump(mode="python")
    data.pop("command", None)
    plan = Plan.model_validate(data)
    ctx.emit("plan", {"question": plan.question, "metrics": [m.name for m in plan.metrics]})
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
