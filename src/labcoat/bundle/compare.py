"""The comparison `labcoat reproduce` prints: each stated metric, recorded and re-run."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from labcoat.untrusted import read_json


@dataclass
class Row:
    program: str
    metric: str
    split: str
    stated: str
    recorded: float | None
    rerun: float | None
    tolerance: float
    note: str = ""

    @property
    def match(self) -> bool:
        if self.recorded is None or self.rerun is None or math.isnan(self.rerun):
            return False
        if self.tolerance == 0:
            return self.rerun == self.recorded
        return abs(self.rerun - self.recorded) <= self.tolerance

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"match": self.match}


def metric_value(metrics: list[dict[str, Any]], name: str, split: str) -> float | None:
    for m in metrics or []:
        if str(m.get("name")) == name and str(m.get("split", "dev")) == split and isinstance(m.get("value"), (int, float)):
            return float(m["value"])
    return None


def printed_value(stdout: str, stated: str) -> float | None:
    """The number in `stdout` that the paper's `stated` text rounds, if the program printed one."""
    from labcoat.review.paper_numbers import code_numbers, number_matches, stated_numbers

    found = stated_numbers(stated)
    if not found:
        return None
    return next((v for v in code_numbers([stdout]) if number_matches(found[0], v)), None)


def split_size(data_dir: Path | None, split: str) -> float | None:
    """A split's size from the data program's data/manifest.json."""
    if data_dir is None:
        return None
    try:
        # a program wrote it: read it as untrusted (no links, no pipes, bounded)
        splits = read_json(data_dir / "manifest.json", 16 << 20, data_dir).get("splits") or {}
    except (OSError, ValueError, AttributeError):
        return None
    value = splits.get(split)
    return float(value) if isinstance(value, (int, float)) else None


def table(rows: list[Row]) -> str:
    """Plain text, one row per stated metric."""
    head = ("program", "metric", "split", "recorded", "re-run", "match")
    body = [(r.program, r.metric, r.split, _fmt(r.recorded), _fmt(r.rerun),
             ("yes" if r.match else "NO") + (f" (±{r.tolerance:g})" if r.tolerance else "") + (f" {r.note}" if r.note else ""))
            for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(line, widths)).rstrip() for line in (head, *body)]
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.10g}"
