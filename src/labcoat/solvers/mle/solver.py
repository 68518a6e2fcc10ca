"""The mle-solver loop: propose, run, repair, score, reflect, keep the best.

Each step samples B parents from the top-k pool, asks the ML engineer for an
edit or a replacement of each (the program shown with line numbers), runs
the B candidates at once on the executor, repairs failures up to Nrep times
(each repair sees the program, the error and the previous repair), scores
successes by the plan's own dev metric and by the reward model, which in the
same call says what each attempt teaches (failures get the lesson alone), and
offers the batch's best to the pool. The reward model judges a step's
attempts in one call, each by its diff against its parent, not the whole
program again. Only after the
search ends does the best program run once on the test split.

Every model call, random draw and program run is a recorded effect keyed by
(step, candidate, attempt), so a resumed run replays the journal exactly.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Callable

from labcoat.agents.dialogue import clip, merge
from labcoat.agents.fallible import ask_or_skip
from labcoat.agents.prompting import Prompts
from labcoat.artefacts import DataCode, Plan
from labcoat.workflow.context import RunContext
from labcoat.errors import LabcoatError
from labcoat.solvers.mle.assessment import compact, fmt, match_verdicts, output_unsaid, program_diff, said_once
from labcoat.solvers.mle.commands import Assess, Edit, Replace
from labcoat.solvers.mle.edits import EditError, apply_edit, numbered
from labcoat.solvers.mle.guards import refuse_reason, unmeasured
from labcoat.journal import Journal, Node
from labcoat.solvers.mle.ranking import Pool, Ranker

# (key, code, extra env) -> JSON result of a sandbox run; see labcoat.phases.programs
RunMany = Callable[[list[tuple[str, str, dict[str, str]]]], list[dict]]


@dataclass
class Candidate:
    index: int
    parent: Node | None
    operation: str
    code: str | None
    error: str = ""
    last_command: str = ""
    node: Node | None = None


class MleSolver:
    def __init__(self, ctx: RunContext, plan: Plan, data: DataCode | None, run_many: RunMany,
                 prompts: Prompts | None = None):
        self.ctx = ctx
        self.plan = plan
        self.data = data
        self.run_many = run_many
        self.prompts = prompts or Prompts()
        budget = ctx.config.budget
        self.steps, self.batch, self.repairs = budget.mle_steps, budget.mle_candidates, budget.mle_repairs
        metric = plan.primary_metric
        self.metric_name = metric.name if metric else None
        self._unmatched_said = False  # the warning that programs do not record the plan's metric, once a run
        if metric is None:
            ctx.warn("the plan names no metric: the experiment search ranks programs by the reward model's "
                     "scores alone")
        self.ranker = Ranker(ctx.config.mle.rank, metric.higher_is_better if metric else True,
                             ctx.config.mle.reward_weight)
        self.pool = Pool(budget.mle_top_k, self.ranker)
        self.journal = Journal()
        context = self._plan_context()
        self.engineer = self.prompts.system(
            role="ml_engineer", phase="running_experiments", topic=ctx.config.topic,
            language=ctx.config.language, notes=ctx.phase_notes(), artefacts=context,
            extra={"experiment_models": list(ctx.gateway.allowed) if ctx.gateway is not None else []})
        self.reward_system = self.prompts.system(
            role="reviewer", phase="running_experiments", topic=ctx.config.topic,
            language=ctx.config.language, notes=[], artefacts=context)

    # -- the search ------------------------------------------------------------
    def seed(self, code: str, operation: str) -> None:
        """Run the initial program (step 0), repairing it like any candidate."""
        cand = Candidate(0, None, operation, code)
        self._run_batch(0, [cand])
        self._finish(0, [cand])

    def search(self) -> None:
        for step in range(1, self.steps + 1):
            if not self.pool.members:
                self.ctx.warn(f"mle-solver step {step}: no working program in the pool; generating one")
                self._seed_at(step, self.generate(step))
                continue
            rng = random.Random(self.ctx.effects.seed(self.ctx.key("mle", step, "sample")))
            parents = [self.pool.sample(rng) for _ in range(self.batch)]
            cands = [self._propose(step, b, parent) for b, parent in enumerate(parents)]
            self._run_batch(step, cands)
            self._finish(step, cands)

    def _seed_at(self, step: int, code: str) -> None:
        cand = Candidate(0, None, "generate", code)
        self._run_batch(step, [cand])
        self._finish(step, [cand])

    def generate(self, step: int) -> str:
        """Ask the engineer to write a program from the plan (no seed fits)."""
        prompt = self.prompts.render("phases/running_experiments_generate.j2", lessons=self._lessons())
        cmd = self._ask(self.engineer, prompt, [Replace], self.ctx.key("mle", step, "generate"), "ml_engineer")
        if cmd is None:
            raise LabcoatError("the ML engineer's model sent no valid program and no seed program fits the plan; "
                               f"resume with `labcoat resume {self.ctx.run_id} --set models.reply_retries=8` or a "
                               "stronger model for the ml_engineer")
        return cmd.program

    def _propose(self, step: int, b: int, parent: Node) -> Candidate:
        prompt = self.prompts.render("phases/running_experiments_propose.j2", id=parent.id,
                                     metric=self.metric_name or "metric", value=fmt(parent.metric),
                                     reward=fmt(parent.reward), code=numbered(parent.code),
                                     output=clip(parent.stdout[-1500:], 1500), lessons=self._lessons(),
                                     candidate=b + 1, of=self.batch)
        cmd = self._ask(self.engineer, prompt, [Edit, Replace], self.ctx.key("mle", step, "cand", b, "propose"),
                        "ml_engineer")
        return self._apply(Candidate(b, parent, cmd.command if cmd is not None else "edit", None), parent.code, cmd)

    def _apply(self, cand: Candidate, base: str, cmd: Any) -> Candidate:
        if cmd is None:  # no valid command: a failed candidate, which the repairs may still fix
            cand.last_command, cand.code = "no valid command", None
            cand.error = "the model's reply contained no valid `edit` or `replace` command"
            return cand
        cand.last_command = f"{cmd.command} " + (f"lines {cmd.start}-{cmd.end}" if isinstance(cmd, Edit) else "")
        try:
            cand.code = apply_edit(base, cmd.start, cmd.end, cmd.new_lines) if isinstance(cmd, Edit) \
                else cmd.program
            cand.error = ""
        except EditError as exc:
            cand.code, cand.error = None, str(exc)
        return cand

    def _run_batch(self, step: int, cands: list[Candidate]) -> None:
        """Run all candidates at once, then repair the failures in rounds, in parallel."""
        self._execute(step, cands, attempt=0)
        for attempt in range(1, self.repairs + 1):
            failing = [c for c in cands if c.node is None or not c.node.ok]
            if not failing:
                break
            for cand in failing:
                self._repair(step, cand, attempt)
            self._execute(step, failing, attempt)

    def _repair(self, step: int, cand: Candidate, attempt: int) -> None:
        broken = cand.code if cand.code is not None else (cand.parent.code if cand.parent else "")
        error = cand.error or (cand.node.refusal or cand.node.stderr[-2500:] if cand.node else "")
        prompt = self.prompts.render("phases/running_experiments_repair.j2", code=numbered(broken),
                                     error=clip(error, 2500), previous=cand.last_command if attempt > 1 else "")
        cmd = self._ask(self.engineer, prompt, [Edit, Replace],
                        self.ctx.key("mle", step, "cand", cand.index, "repair", attempt), "ml_engineer")
        cand.operation = "repair"
        self._apply(cand, broken, cmd)

    def _execute(self, step: int, cands: list[Candidate], attempt: int) -> None:
        jobs = []
        for cand in cands:
            if cand.code is not None:
                key = self.ctx.key("mle", step, "cand", cand.index, "run", attempt)
                jobs.append((key, cand.code, {}))
        results = iter(self.run_many(jobs)) if jobs else iter(())
        for cand in cands:
            node_id = f"s{step}c{cand.index}" + (f"r{attempt}" if attempt else "")
            previous = cand.node
            node = Node(id=node_id, step=step, candidate=cand.index, operation=cand.operation,  # type: ignore[arg-type]
                        code=cand.code or "", parent=cand.parent.id if cand.parent else None,
                        repair_of=previous.id if previous is not None else None)
            if cand.code is None:
                node.status, node.stderr = "failed", cand.error
            else:
                self._record_run(node, next(results), cand.parent.code if cand.parent else None)
            cand.node = self.journal.add(node)
            self.ctx.emit("mle_node", {"id": node.id, "parent": node.parent, "operation": node.operation,
                                       "status": node.status, "metric": node.metric, "refusal": node.refusal})

    def _record_run(self, node: Node, result: dict, parent_code: str | None) -> None:
        node.exit_code, node.killed_by = result.get("exit_code"), result.get("killed_by")
        node.stdout, node.stderr = result.get("stdout", ""), result.get("stderr", "")
        node.duration_s = float(result.get("duration_s", 0.0))
        node.figures = list(result.get("figures", []))
        node.metrics = [m for m in result.get("metrics", []) if m.get("split", "dev") != "test"]
        node.metrics_errors = [str(e) for e in result.get("metrics_errors", [])]
        if node.exit_code != 0 or node.killed_by:
            node.status = "failed"
            if node.killed_by:
                node.stderr += f"\n[killed by the {node.killed_by} limit]"
            return
        reason = unmeasured(node.metrics) or refuse_reason(node.code, node.metrics, parent_code)
        if reason:
            node.status, node.refusal = "refused", reason
            return
        node.status = "ok"
        node.metric = _metric(node.metrics, self.metric_name)
        if node.metric is None and self.metric_name and not self._unmatched_said:
            self._unmatched_said = True
            names = sorted({str(m.get("name")) for m in node.metrics if "/" not in str(m.get("name"))})
            self.ctx.warn(f"mle-solver: {node.id} recorded no dev metric named {self.metric_name!r}, the plan's "
                          f"primary metric (it recorded {', '.join(names) or 'only per-item metrics'}); programs "
                          "without it are ranked by the reward model")

    def _finish(self, step: int, cands: list[Candidate]) -> None:
        """Assess the step's attempts and offer the batch's best to the pool."""
        finals = [c.node for c in cands if c.node is not None]
        self._assess(step, finals)
        best = self.ranker.best(finals)
        if best is not None:
            outcome = self.pool.offer(best)
            self.ctx.emit("mle_pool", {"step": step, "offered": best.id, "outcome": outcome, "pool": self.pool.ids()})
        dropped = [n.id for n in finals if not n.ok]
        if dropped:
            self.ctx.emit("mle_dropped", {"step": step, "nodes": dropped})

    def _assess(self, step: int, nodes: list[Node]) -> None:
        """One call of the reward model for the step's attempts: each one's score (successes only), rationale
        and lesson. One call, not one per attempt: the system prompt and plan are sent once, and the
        attempts of a step are judged side by side."""
        if not nodes:
            return
        attempts = said_once([self._attempt_view(node) for node in nodes])
        prompt = self.prompts.render("phases/running_experiments_assess.j2", attempts=attempts,
                                     metric=self.metric_name or "metric")
        # Grammar-constrained models (JSON mode) can then name only the attempts shown.
        cmd = self._ask(self.reward_system, prompt, [Assess], self.ctx.key("mle", step, "assess"), "reviewer",
                        choices={"assess.verdicts.attempt": [n.id for n in nodes]})
        if cmd is None:  # unscored: ranked by their metric alone, no lessons
            return
        verdicts = match_verdicts([n.id for n in nodes], cmd.verdicts)
        missing = [n.id for n in nodes if n.id not in verdicts]
        if missing:
            self.ctx.warn(f"mle-solver step {step}: the reward model gave no verdict for {', '.join(missing)}; "
                          "ranked by the dev metric alone")
        for node in nodes:
            verdict = verdicts.get(node.id)
            if verdict is None:
                continue
            if node.ok and verdict.score is not None:
                node.reward = min(1.0, max(0.0, float(verdict.score)))
                node.reward_rationale = verdict.rationale
            node.reflection = verdict.lesson

    def _attempt_view(self, node: Node) -> dict[str, Any]:
        """What the reward model reads of one attempt: its change to its parent (or the program when it has
        none, or when the diff would be longer), its metrics and the end of its output, or what went wrong."""
        parent = self.journal.get(node.parent) if node.parent else None
        return {"node": node, "parent": parent,
                "diff": program_diff(parent.code, node.code) if parent is not None else "",
                "code": clip(node.code, 6000), "value": fmt(node.metric),
                "parent_value": fmt(parent.metric) if parent is not None else "",
                "metrics": compact(node.metrics), "output": output_unsaid(node.stdout[-800:], node.metrics),
                "problem": node.refusal or clip(node.stderr[-800:], 800)}

    # -- helpers ---------------------------------------------------------------
    def _ask(self, system: str, prompt: str, commands: list[type], key: str, role: str,
             choices: dict[str, list[str]] | None = None) -> Any:
        """The command, or None when the model sent none valid (recorded; the caller goes on without it)."""
        return ask_or_skip(self.ctx, key=key, role=role, system=system,
                           messages=merge([{"role": "user", "content": prompt}]), commands=commands,
                           choices=choices)

    def _lessons(self) -> list[str]:
        return self.journal.recent_reflections()

    def _plan_context(self) -> str:
        return self.prompts.render("phases/running_experiments_context.j2", plan=self.plan, data=self.data,
                                   data_code=clip(self.data.code, 3000) if self.data is not None else "")


DEV_SPLITS = ("dev", "cv", "val", "validation")


def _metric(metrics: list[dict], name: str | None) -> float | None:
    """The plan's primary dev metric: by exact name, else the one overall metric
    whose name the plan's name contains (a plan's "mean dev accuracy" is a
    program's "accuracy"); per-item metrics ("wine/svc/accuracy") never count."""
    if name is None:
        return None
    dev = [m for m in metrics if m.get("split", "dev") in DEV_SPLITS and isinstance(m.get("value"), (int, float))]
    exact = [m for m in dev if m.get("name") == name]
    wanted = name.lower()
    loose = [m for m in dev if "/" not in str(m.get("name")) and str(m.get("name")).lower() in wanted]
    chosen = exact or (loose if len(loose) == 1 else [])
    return float(chosen[0]["value"]) if chosen else None
