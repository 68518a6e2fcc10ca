"""The duration said before a run starts, against what a run of the quickstart measured."""

from __future__ import annotations

from pathlib import Path

from labcoat.config.loading import load_config
from labcoat.run.estimate import describe, expected_minutes, max_calls

QUICKSTART = Path(__file__).resolve().parents[1] / "examples" / "quickstart.yaml"


def test_quickstart_estimate_brackets_the_measured_local_run():
    config = load_config(QUICKSTART)
    calls = max_calls(config)
    assert set(calls) == set(config.phases) and sum(calls.values()) == 84
    typical, worst = expected_minutes(config, "local:smollm2")
    # A clean pass on SmolLM2 (2 CPU cores) took 15.5 min with 67 model calls.
    assert typical <= 16 <= worst
    hosted_typical, hosted_worst = expected_minutes(config, "openai:gpt-4o-mini")
    assert hosted_typical < typical and hosted_worst < worst
    text = describe(config, "local:smollm2")
    assert f"about {typical} min, ~{worst} min" in text and "84 model calls at most, ~13 s each" in text


def test_bigger_budgets_take_longer():
    small = load_config(QUICKSTART)
    big = load_config(QUICKSTART, overrides=["budget.mle_steps=6", "budget.phase_steps.literature_review=20"])
    assert sum(max_calls(big).values()) > sum(max_calls(small).values())
    assert expected_minutes(big, "local:smollm2")[1] > expected_minutes(small, "local:smollm2")[1]
