"""Find the numbers a text states and check them against recorded values.

The rule: a decimal number or a percentage must match a recorded value
within the rounding it is written with (0.873 matches 0.87321; 87.3% and
87.3 match 0.873). Whole numbers without % (counts, sizes, years) are left
to the report's integrity check, which knows the data and code.
"""

from __future__ import annotations

import re

NUMBER = re.compile(r"(?<![\w.])(-?\d+(?:\.\d+)?)(\s*%)?")


def matches(token: str, recorded: list[float]) -> bool:
    value = float(token)
    places = len(token.split(".")[1]) if "." in token else 0
    tolerance = 0.5 * 10 ** (-places) + 1e-9
    return any(abs(r - value) <= tolerance or abs(r * 100.0 - value) <= tolerance for r in recorded)


def unsupported_numbers(text: str, recorded: list[float]) -> tuple[list[str], list[float]]:
    """(numbers stated but not recorded, recorded-matching numbers used)."""
    bad: list[str] = []
    used: list[float] = []
    for match in NUMBER.finditer(text):
        token, percent = match.group(1), bool(match.group(2))
        if "." not in token and not percent:
            continue
        if matches(token, recorded):
            used.append(float(token))
        else:
            bad.append(token + ("%" if percent else ""))
    return bad, used
