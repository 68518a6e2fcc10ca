"""Guards that refuse a program which no longer runs the experiment.

A repair that deletes the training and prints a plausible accuracy passes
every crash check; these guards catch the ways that happens:
- no metrics written (no metrics.json, or it is empty);
- a reported metric value appears as a literal in the source (a number the
  program wrote rather than measured), values 0 and 1 excepted;
- the parent program did experiment work (fit, train, predict, backward,
  cross-validation, evaluation, model calls) and this one does none.
"""

from __future__ import annotations

import ast
import re

EXPERIMENT_CALLS = {
    "fit", "fit_transform", "partial_fit", "train", "predict", "predict_proba", "score", "backward", "step",
    "cross_val_score", "cross_validate", "evaluate", "decision_function", "create", "generate", "forward",
}
_NUMBER_IN_TEXT = re.compile(r"-?\d+\.\d+|-?\d+")


def experiment_calls(code: str) -> set[str]:
    """Names of experiment-like calls the program makes (empty if it does not parse)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set()
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else None
            if name in EXPERIMENT_CALLS:
                found.add(name)
    return found


def literal_numbers(code: str) -> list[float]:
    """Every number written in the source: numeric constants and numbers inside strings."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    values: list[float] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant):
            if isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
                values.append(float(node.value))
            elif isinstance(node.value, str):
                values.extend(float(m) for m in _NUMBER_IN_TEXT.findall(node.value))
    return values


def unmeasured(metrics: list[dict]) -> str | None:
    """A metric without a numeric value makes the whole result unusable: nothing may stand in for it."""
    missing = [str(m.get("name", f"entry {i}")) for i, m in enumerate(metrics)
               if isinstance(m.get("value"), bool) or not isinstance(m.get("value"), (int, float))]
    if not missing:
        return None
    return (f"metric {', '.join(missing)} has no numeric value: every entry of metrics.json needs "
            "{name, value, split, higher_is_better} with a measured number")


def refuse_reason(code: str, metrics: list[dict], parent_code: str | None) -> str | None:
    """Why this program's result cannot be trusted, or None."""
    if not metrics:
        return ("no metrics were written: an experiment must measure its results and save them to "
                "metrics.json (a list of {name, value, split, higher_is_better})")
    literals = literal_numbers(code)
    for m in metrics:
        value = m.get("value")
        if not isinstance(value, (int, float)) or value in (0, 1):
            continue
        if any(abs(lit - float(value)) <= 1e-12 for lit in literals):
            return (f"the metric {m.get('name')}={value} is written as a literal in the program: "
                    "metrics must be measured, not stated")
    if parent_code is not None and experiment_calls(parent_code) and not experiment_calls(code):
        return ("this program no longer trains or evaluates anything (its parent called "
                + ", ".join(sorted(experiment_calls(parent_code))) + "): the experiment was removed")
    return None
