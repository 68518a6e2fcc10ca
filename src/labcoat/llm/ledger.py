"""Totals of a run's cost ledger, grouped by phase, role and model."""

from __future__ import annotations

from collections.abc import Iterable

FIELDS = ("calls", "input_tokens", "cached_tokens", "output_tokens", "reasoning_tokens", "dollars", "latency_s")


def _zero() -> dict[str, float]:
    return {f: 0 for f in FIELDS}


def _add(into: dict, row: dict) -> None:
    into["calls"] += 1
    for f in FIELDS[1:]:
        into[f] += row.get(f) or 0


def summarise(rows: Iterable[dict]) -> dict:
    """{"total": {...}, "phase": {name: {...}}, "role": {...}, "model": {...}}; each with FIELDS."""
    out: dict = {"total": _zero(), "phase": {}, "role": {}, "model": {}}
    for row in rows:
        _add(out["total"], row)
        for group in ("phase", "role", "model"):
            name = row.get(group) or "-"
            _add(out[group].setdefault(name, _zero()), row)
    return out
