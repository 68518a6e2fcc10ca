"""Running experiments: the mle-solver searches; the best program is tested once.

Selection reads dev metrics only. After the search, the best program runs a
single time with LABCOAT_EVAL_SPLIT=test and its test metrics are stored
apart in `Results.test_metrics`; nothing ranks on them.
"""

from __future__ import annotations

from labcoat.artefacts import DataCode, MetricValue, Plan, Results
from labcoat.workflow.context import RunContext
from labcoat.phases.programs import program_runner
from labcoat.solvers.mle.guards import unmeasured
from labcoat.solvers.mle.seeds import choose_seed
from labcoat.solvers.mle.solver import MleSolver

NAME = "running_experiments"


def run(ctx: RunContext) -> Results:
    plan = ctx.artefacts.get("plan_formulation")
    if not isinstance(plan, Plan):
        from labcoat.errors import LabcoatError

        raise LabcoatError("running experiments needs the plan from plan formulation; it is missing")
    data = ctx.artefacts.get("data_preparation")
    data = data if isinstance(data, DataCode) else None
    run_many = program_runner(ctx, data)
    solver = MleSolver(ctx, plan, data, run_many)
    seed = choose_seed(plan, ctx.effects.seed(ctx.key("mle", "seed-choice"))) if ctx.config.mle.use_seeds else None
    if seed is not None:
        ctx.emit("mle_seed", {"file": seed.file, "kind": seed.kind})
        solver.seed(seed.code, "seed")
    else:
        ctx.emit("mle_seed", {"file": None, "kind": "generated"})
        solver.seed(solver.generate(0), "generate")
    solver.search()
    return _results(ctx, solver, run_many)


def _results(ctx: RunContext, solver: MleSolver, run_many) -> Results:
    best = solver.ranker.best(solver.journal.nodes)
    results = Results(journal=solver.journal.nodes)
    if best is None:
        ctx.warn("no experiment program ran successfully; the results are empty and the report will say so")
        results.notes.append("no program ran successfully")
        return results
    direction = {m.name: m.higher_is_better for m in solver.plan.metrics}
    results.best, results.best_code = best.id, best.code
    results.figures = list(best.figures)
    results.metrics = [_value(m, best.id, direction) for m in best.metrics]
    final = run_many([(ctx.key("mle", "final", "test"), best.code, {ctx.config.mle.eval_split_env: "test"})])[0]
    if final.get("exit_code") != 0 or final.get("killed_by"):
        ctx.warn(f"the final test run of {best.id} failed (exit {final.get('exit_code')}); no test metrics")
        results.notes.append(f"final test run of {best.id} failed")
    else:
        test = [m for m in final.get("metrics", []) if m.get("split") == "test"]
        problem = unmeasured(test)
        if problem:
            ctx.warn(f"the final test run of {best.id}: {problem}; those test metrics are left out")
            results.notes.append(f"final test run of {best.id}: {problem}")
        results.test_metrics = [_value(m, f"{best.id}/test", direction) for m in test if not unmeasured([m])]
        results.figures += [f for f in final.get("figures", []) if f not in results.figures]
    ctx.emit("mle_best", {"node": best.id, "metric": best.metric, "metric_name": solver.metric_name,
                          "reward": best.reward,
                          "test": [m.model_dump() for m in results.test_metrics]})
    return results


def _value(m: dict, source: str, direction: dict[str, bool]) -> MetricValue:
    # Reported nodes passed `guards.unmeasured`, and test metrics are filtered likewise: a value is always there.
    return MetricValue(name=str(m.get("name")), value=float(m["value"]), split=str(m.get("split", "dev")),
                       higher_is_better=bool(m.get("higher_is_better", direction.get(str(m.get("name")), True))),
                       source=source)
