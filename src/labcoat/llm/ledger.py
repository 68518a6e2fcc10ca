"""Totals of a run's cost ledger, grouped by phase, role and model."""

from __future__ import annotations

from collections.abc import Iterable

FIELDS = ("calls", "input_tokens", "cached_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens",
          "dollars", "latency_s")


def _zero() -> dict[str, float]:
    return {f: 0 for f in FIELDS}


def _add(into: dict, row: dict) -> None:
    into["calls"] += 1
    for f in FIELDS[1:]:
        into[f] += row.get(f) or 0


EXPERIMENT = "experiment"  # the role of calls experiment programs make through the gateway


def cache_share(totals: dict) -> float | None:
    """The share of input tokens read from a provider's cache, or None when nothing was sent."""
    sent = totals.get("input_tokens") or 0
    return (totals.get("cached_tokens") or 0) / sent if sent else None


def summarise(rows: Iterable[dict]) -> dict:
    """{"total", "spender" (agents / experiments), "phase", "role", "model", "program"}; each with FIELDS.

    `program` groups the experiment programs' calls by the program that made them.
    """
    out: dict = {"total": _zero(), "spender": {}, "phase": {}, "role": {}, "model": {}, "program": {}}
    for row in rows:
        _add(out["total"], row)
        experiment = row.get("role") == EXPERIMENT
        _add(out["spender"].setdefault("experiments" if experiment else "agents", _zero()), row)
        for group in ("phase", "role", "model"):
            name = row.get(group) or "-"
            _add(out[group].setdefault(name, _zero()), row)
        if experiment:
            _add(out["program"].setdefault(row.get("node") or "-", _zero()), row)
    return out
