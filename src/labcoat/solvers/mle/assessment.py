"""What the mle-solver's reward model reads of an attempt, and how its verdicts find their attempts.

An attempt is shown by its change to its parent (a unified diff, or the program when that is shorter),
its recorded metrics in one line and the end of its output less the lines that only restate those
metrics; a parent or program an earlier attempt of the step showed is named, not shown again; the
verdicts of one call are matched back to the attempts by the ids they name.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from labcoat.review.paper_numbers import Stated, stated_numbers

DIFF_CHARS = 4000


def match_verdicts(ids: list[str], verdicts: list[Any]) -> dict[str, Any]:
    """Each attempt's verdict: by the id it names, written any way a model writes it ("s1c0",
    "Attempt s1c0", "s1c0 (edit of s0c0)"); verdicts naming no shown attempt go, in the order given, to the
    attempts left when there are exactly as many of them (the prompt shows the attempts in that order)."""
    found: dict[str, Any] = {}
    unnamed = []
    for verdict in verdicts:
        named = [i for i in ids if re.search(rf"(?<![\w]){re.escape(i)}(?![\w])", verdict.attempt)]
        if len(named) == 1 and named[0] not in found:
            found[named[0]] = verdict
        else:
            unnamed.append(verdict)
    left = [i for i in ids if i not in found]
    if unnamed and len(unnamed) == len(left):
        found.update(zip(left, unnamed))
    return found


def said_once(attempts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Marks what an earlier attempt of the step already showed: a parent two attempts share
    (`parent_shown`), and a program another attempt already is (`same_as`, that attempt's id)."""
    for i, a in enumerate(attempts):
        earlier = attempts[:i]
        parent = a["parent"].id if a["parent"] is not None else None
        a["parent_shown"] = parent is not None and any(e["parent"] and e["parent"].id == parent for e in earlier)
        a["same_as"] = next((e["node"].id for e in earlier if e["node"].code == a["node"].code), None)
    return attempts


def program_diff(before: str, after: str) -> str:
    """The unified diff of a program against its parent (two lines of context), or "" when a diff would
    say more than the program itself (a rewrite): the reward model then reads the program."""
    lines = list(difflib.unified_diff(before.splitlines(), after.splitlines(), "parent", "attempt", n=2,
                                      lineterm=""))
    text = "\n".join(lines[2:])  # the ---/+++ header names nothing the model needs
    if not text:
        return "(no change)"
    return "" if len(text) > min(DIFF_CHARS, len(after)) else text


def output_unsaid(tail: str, metrics: list[dict]) -> str:
    """The end of a program's output without the lines that only restate its recorded metrics (every number
    on the line is one of them, as printed): the reward model reads those once, in the metrics line."""
    values = [float(m["value"]) for m in metrics if isinstance(m.get("value"), (int, float))
              and not isinstance(m.get("value"), bool)]
    kept, restated = [], 0
    for line in tail.splitlines():
        numbers = stated_numbers(line)
        if numbers and values and all(_restates(n, values) for n in numbers):
            restated += 1
            continue
        kept.append(line)
    if restated:
        kept.append(f"({restated} line{'s' if restated > 1 else ''} restating the recorded metrics left out)")
    return "\n".join(kept).strip("\n")


def _restates(number: Stated, values: list[float]) -> bool:
    """A printed fraction ("0.9912", "99.1%") that is a recorded value as shown; an integer never counts
    (epochs, counts and seeds print as integers too)."""
    if number.integer:
        return False
    shown = number.magnitude / 100.0 if number.percent else number.magnitude
    scale = 100.0 if number.percent else 1.0
    return any(abs(abs(v) - shown) <= number.tolerance / scale + 1e-9 for v in values)


def compact(metrics: list[dict]) -> str:
    """Recorded metrics as `name (split) value`, four significant digits: what a reader of a table sees."""
    return "; ".join(f"{m.get('name')} ({m.get('split', 'dev')}) "
                     f"{fmt(m['value']) if isinstance(m.get('value'), (int, float)) else m.get('value')}"
                     for m in metrics) or "none"


def fmt(value: float | None) -> str:
    """A metric or reward as a prompt shows it: four significant digits, or n/a."""
    return "n/a" if value is None else f"{value:.4g}"
