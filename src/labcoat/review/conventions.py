"""Numbers that are not results: one vocabulary for every guard and check of stated numbers.

A paper or an interpretation states two kinds of numbers. Results must come
from the run's records. Conventions and settings are not results:

- **by their wording** (`convention_spans`): confidence levels ("paired
  bootstrap 95% CI", "at the 99% level"), significance thresholds
  ("p < 0.05", "alpha = 0.01"), split ratios ("80/20 split", "70:15:15")
  and seeds ("seed 42");
- **by where they were written** (`setting_records`): every number in the
  plan, the topic and the task notes (hyper-parameters, split percentages,
  sample counts the researcher chose), next to the literals of the recorded
  code and the numbers the programs printed, which `run_records` gathers.

The interpretation guard (`phases.results_interpretation`) and the
integrity check of the paper (`review.integrity`) both use this module, so
a number one accepts the other accepts too.
"""

from __future__ import annotations

import re
from typing import Any

from labcoat.review.paper_numbers import Stated, code_numbers, stated_numbers

_PCT = r"(?:\\?%|\s*percent\b|\s*per\s*cent\b)"
_LEVEL = r"(\d{2}(?:\.\d+)?)"
_CMP = r"(?:<|>|\\leq?|\\geq?|\\lesssim|≤|≥|\$\s*<\s*\$|\$\s*>\s*\$|&lt;|&gt;)"
_THRESHOLD = r"\$?\s*(0?\.\d+|1)\s*\$?"
_CONVENTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(_LEVEL + _PCT + r"[\s~-]*(?:(?:two|one)[- ]sided\s+|paired\s+|bootstrap(?:ped)?\s+|bca\s+|wald\s+"
                r"|wilson\s+|percentile\s+|bayesian\s+|highest[- ]density\s+|simultaneous\s+)*"
                r"(?:confidence|CIs?\b|credible|prediction|intervals?|bootstrap|HDI|coverage|level|significance)",
                re.IGNORECASE), "confidence level"),
    (re.compile(r"(?:confidence|credible|significance)[\s~-]+(?:level|interval|band)s?[\s~]+(?:of|at|=)?[\s~]*"
                + _LEVEL + _PCT, re.IGNORECASE), "confidence level"),
    (re.compile(r"\bat[\s~]+(?:the[\s~]+|a[\s~]+)?" + _LEVEL + _PCT + r"[\s~]+(?:level|confidence)", re.IGNORECASE),
     "confidence level"),
    (re.compile(r"(?<![A-Za-z])\$?\s*p\s*\$?(?:[-\s]?values?)?\s*" + _CMP + r"\s*" + _THRESHOLD), "significance threshold"),
    (re.compile(r"(?:\\alpha|α|\balpha|significance[\s~]+(?:level|threshold)|\blevel)\s*\$?\s*(?:=|of|at|:)?\s*"
                + _THRESHOLD, re.IGNORECASE), "significance level"),
    (re.compile(r"(?<![\d.])(\d{1,2}(?:\.\d+)?)\s*(?:\\?%)?\s*[/:–-]\s*(\d{1,2}(?:\.\d+)?)(?:\s*(?:\\?%)?\s*[/:–-]\s*"
                r"(\d{1,2}(?:\.\d+)?))?\s*(?:\\?%)?[\s~-]*(?:train(?:ing)?[\s/-]*(?:dev|test|val)|splits?|partition"
                r"|hold[- ]?out|ratio|division|train)", re.IGNORECASE), "split ratio"),
    (re.compile(r"\b(?:random[\s_]+)?(?:seeds?|random_state)\s*(?:=|of|:)?\s*\$?\s*(\d+)", re.IGNORECASE), "seed"),
)


def convention_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, what) of each stretch of `text` that states a convention, not a result."""
    spans = []
    for pattern, what in _CONVENTIONS:
        for match in pattern.finditer(text):
            if what == "split ratio" and not _sums_to_whole(match):
                continue
            spans.append((match.start(), match.end(), what))
    return sorted(spans)


def _sums_to_whole(match: re.Match[str]) -> bool:
    """80/20 and 70:15:15 are splits; 3/4 or 12-14 are not."""
    parts = [float(g) for g in match.groups() if g]
    return abs(sum(parts) - 100.0) < 1e-6 or abs(sum(parts) - 1.0) < 1e-6


def convention_of(stated: Stated, spans: list[tuple[int, int, str]]) -> str | None:
    """What convention `stated` belongs to, if its place lies in one of `spans`."""
    for start, end, what in spans:
        if start <= stated.start < end:
            return what
    return None


def setting_records(*, plan: Any = None, topic: str = "", notes: dict[str, list[str]] | None = None) -> list[dict]:
    """Numbers the researcher or the plan chose (not results), as records for the checks."""
    records: list[dict] = []
    if plan is not None:
        data = plan.model_dump(mode="json") if hasattr(plan, "model_dump") else plan
        records += [{"value": v, "source": "the plan"} for v in _numbers_in(data)]
    if topic:
        records += [{"value": v, "source": "the topic"} for v in _numbers_in(topic)]
    for phase, phase_notes in (notes or {}).items():
        records += [{"value": v, "source": f"task notes ({phase})"} for v in _numbers_in(phase_notes)]
    return records


def _numbers_in(value: Any) -> list[float]:
    if isinstance(value, dict):
        return [n for item in value.values() for n in _numbers_in(item)]
    if isinstance(value, (list, tuple)):
        return [n for item in value for n in _numbers_in(item)]
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, (int, float)):
        return [float(value)]
    return code_numbers([str(value)])


def mark_unverified(text: str, numbers: list[str], mark: str = " [unverified]") -> str:
    """`text` with `mark` after each stated number listed in `numbers`."""
    wanted = set(numbers)
    out, last = [], 0
    for stated in stated_numbers(text):
        if stated.text in wanted:
            end = stated.start + len(stated.text)
            out += [text[last:end], mark]
            last = end
    return "".join(out) + text[last:]
