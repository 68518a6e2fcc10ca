"""Where a stated number may come from: the pool of recorded values, ratios, conventions.

Shared by the integrity check of the paper and the guards of the phases
that write prose about results (the interpretation), so both accept and
refuse the same numbers.
"""

from __future__ import annotations

from itertools import permutations
from typing import Any

from labcoat.review.conventions import convention_of, convention_spans
from labcoat.review.paper_numbers import Stated, code_numbers, number_matches, stated_numbers

_MAX_PAIRWISE = 24  # beyond this many records, chance differences would match almost anything


def candidates(recorded: list[dict[str, Any]], code_texts: list[str] = (), subsampling: list[str] = ()) -> list[tuple[float, str]]:
    """What a stated number may match: (value, where it was recorded), direct records first."""
    # Direct records first: the first match names the source.
    direct = [(float(item["value"]), str(item.get("source") or "recorded")) for item in recorded]
    pool = list(direct)
    pool += [(value, "recorded code") for value in code_numbers(code_texts)]
    pool += [(stated.value, "subsampling note") for note in subsampling for stated in stated_numbers(note)]
    # Differences only between metrics ("2.3 points better"): a difference of a
    # log value and a review score would match almost any number by accident.
    metrics = [(float(item["value"]), str(item.get("source") or "recorded")) for item in recorded
               if item.get("metric")]
    if len(metrics) <= _MAX_PAIRWISE:
        pool += [(a - b, f"difference of {sa} and {sb}") for (a, sa), (b, sb) in permutations(metrics, 2)]
    return pool


def ratios(recorded: list[dict[str, Any]]) -> list[tuple[float, str]]:
    """Ratios of two recorded metrics: only a number stated as a ratio ("3.2x faster") may match one."""
    metrics = [(float(item["value"]), str(item.get("source") or "recorded")) for item in recorded
               if item.get("metric") and float(item["value"]) != 0.0]
    if len(metrics) > _MAX_PAIRWISE:
        return []
    return [(a / b, f"ratio of {sa} and {sb}") for (a, sa), (b, sb) in permutations(metrics, 2)]


def source_of(stated: Stated, pool: list[tuple[float, str]], ratio_pool: list[tuple[float, str]] = (),
              spans: list[tuple[int, int, str]] = ()) -> str | None:
    """Where `stated` comes from: a convention, a recorded value, or (for "3.2x") a ratio; None if nowhere."""
    convention = convention_of(stated, list(spans))
    if convention:
        return f"convention: {convention}"
    # a record that states the number as it is written names the source before one that needs scaling
    found = next((src for value, src in pool if number_matches(stated, value, scaled=False)), None) or \
        next((src for value, src in pool if number_matches(stated, value)), None)
    if found is None and stated.times:
        found = next((src for value, src in ratio_pool if number_matches(stated, value)), None)
    return found


def unverified_numbers(text: str, pool: list[tuple[float, str]],
                       ratio_pool: list[tuple[float, str]] = ()) -> tuple[list[str], list[dict]]:
    """The decimals and percentages of a plain `text` that neither match `pool` nor state a convention.

    Returns (unverified numbers as written, matched {number, value, source}). Whole
    numbers without % are left to the paper's integrity check, which knows the
    data sizes and the printed counts.
    """
    spans = convention_spans(text)
    bad: list[str] = []
    matched: list[dict] = []
    for stated in stated_numbers(text):
        if not (stated.percent or not stated.integer):
            continue
        source = source_of(stated, pool, ratio_pool, spans)
        if source is None:
            bad.append(stated.text)
        else:
            matched.append({"number": stated.text, "value": stated.value, "source": source})
    return list(dict.fromkeys(bad)), matched
