"""Reviews and integrity findings in whatever shape the report phase wrote them.

The pages show what is there: numbers become scores, strings become text,
lists become bullet lists; an unexpected shape is shown as JSON, not dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MAX_COLUMNS = 8


@dataclass
class Review:
    title: str
    scores: list[tuple[str, Any]] = field(default_factory=list)
    texts: list[tuple[str, str]] = field(default_factory=list)
    lists: list[tuple[str, list[str]]] = field(default_factory=list)
    other: dict[str, Any] = field(default_factory=dict)


@dataclass
class Reviews:
    items: list[Review] = field(default_factory=list)
    summary: list[tuple[str, Any]] = field(default_factory=list)
    notice: str = ""
    aggregate: list[tuple[str, dict]] = field(default_factory=list)  # score -> mean, spread, low, high
    raw: Any = None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _review(data: Any, index: int) -> Review:
    if not isinstance(data, dict):
        return Review(title=f"review {index + 1}", other={"review": data})
    title = str(data.get("reviewer") or data.get("name") or data.get("role") or f"review {index + 1}")
    review = Review(title=title)
    for key, value in data.items():
        if key in ("reviewer", "name", "role"):
            continue
        if _is_number(value):
            review.scores.append((key, value))
        elif isinstance(value, dict) and value and all(_is_number(v) for v in value.values()):
            review.scores.extend(value.items())
        elif isinstance(value, str):
            review.texts.append((key, value))
        elif isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
            review.lists.append((key, [str(v) for v in value]))
        elif value is not None:
            review.other[key] = value
    return review


def reviews(data: Any) -> Reviews | None:
    if data is None:
        return None
    out = Reviews(raw=data)
    items = data
    if isinstance(data, dict):
        items = data.get("reviews") if isinstance(data.get("reviews"), list) else []
        out.notice = str(data.get("notice") or "")
        out.summary = [(k, v) for k, v in data.items()
                       if k not in ("reviews", "notice") and (_is_number(v) or isinstance(v, (str, bool)))]
        scores = (data.get("aggregate") or {}).get("scores") if isinstance(data.get("aggregate"), dict) else None
        if isinstance(scores, dict):
            out.aggregate = [(k, v) for k, v in scores.items() if isinstance(v, dict) and "mean" in v]
    if isinstance(items, list):
        out.items = [_review(r, i) for i, r in enumerate(items)]
    return out


@dataclass
class Findings:
    rows: list[dict] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    summary: list[tuple[str, Any]] = field(default_factory=list)
    raw: Any = None


def findings(data: Any) -> Findings | None:
    if data is None:
        return None
    out = Findings(raw=data)
    rows = data
    if isinstance(data, dict):
        rows = next((v for k, v in data.items() if isinstance(v, list) and k in ("findings", "issues", "checks")),
                    next((v for v in data.values() if isinstance(v, list)), []))
        out.summary = [(k, v) for k, v in data.items() if _is_number(v) or isinstance(v, (str, bool))]
    if isinstance(rows, list):
        out.rows = [r if isinstance(r, dict) else {"finding": r} for r in rows]
    for row in out.rows:
        for key in row:
            if key not in out.columns and len(out.columns) < MAX_COLUMNS:
                out.columns.append(key)
    return out
