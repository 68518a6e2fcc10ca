"""How long a run may take, said before it starts.

An upper bound from the config's budgets: the most model calls each phase can
make, times a typical call latency for the kind of model, plus the sandbox
runs of the experiments. Local models on a laptop CPU are slow; saying so up
front keeps a researcher from killing a run that is merely working.
"""

from __future__ import annotations

from labcoat.config.schema import ResearchConfig

# Typical seconds per model call: a hosted API, and a small model on 2 CPU cores
# (SmolLM2-135M on the quickstart: 67 calls in 882 model-seconds, 13.2 s each).
SECONDS_PER_CALL = {"hosted": 6.0, "local": 13.0}
# The share of the step caps a run typically uses: a small local model runs into
# most of them (the quickstart made 67 of at most 84 calls); a strong hosted model
# finishes most phases early.
TYPICAL_SHARE = {"hosted": 0.5, "local": 0.8}
SECONDS_PER_PROGRAM = 8.0
SECTIONS = 8


def max_calls(config: ResearchConfig) -> dict[str, int]:
    b = config.budget
    calls = {
        "literature_review": b.steps_for("literature_review", 30) if b.lit_review_papers else 0,
        "plan_formulation": b.steps_for("plan_formulation", 12) + 1,
        "data_preparation": b.steps_for("data_preparation", 15) + 3,
        # each candidate: a proposal, up to Nrep repairs, a reward and a reflection
        "running_experiments": (b.mle_steps * b.mle_candidates + 1) * (3 + b.mle_repairs),
        "results_interpretation": b.steps_for("results_interpretation", 10) + 3,
        "report_writing": SECTIONS * 2 + b.paper_steps * 2,
        "report_refinement": b.reviewers + 2,
    }
    return {phase: n for phase, n in calls.items() if phase in config.phases}


def expected_minutes(config: ResearchConfig, model: str) -> tuple[int, int]:
    """(minutes if calls go as planned, minutes at the worst case of every cap reached)."""
    kind = "local" if model.startswith(("local:", "ollama:", "llamacpp:")) or model == "auto" else "hosted"
    per_call = SECONDS_PER_CALL[kind]
    worst_calls = sum(max_calls(config).values())
    programs = (config.budget.mle_steps * config.budget.mle_candidates + 2) * (1 + config.budget.mle_repairs)
    worst = worst_calls * per_call + programs * SECONDS_PER_PROGRAM
    typical = TYPICAL_SHARE[kind] * worst_calls * per_call + (programs / (1 + config.budget.mle_repairs)) * SECONDS_PER_PROGRAM
    return max(1, round(typical / 60)), max(1, round(worst / 60))


def describe(config: ResearchConfig, model: str) -> str:
    typical, worst = expected_minutes(config, model)
    local = model.startswith(("local:", "ollama:", "llamacpp:")) or model == "auto"
    per_call = SECONDS_PER_CALL["local" if local else "hosted"]
    where = "on this machine's CPU, longer while it is busy" if local else f"on {model}"
    return (f"expected duration: about {typical} min, ~{worst} min if every phase uses its whole budget "
            f"({sum(max_calls(config).values())} model calls at most, ~{per_call:g} s each {where})")
