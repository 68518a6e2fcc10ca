"""What the dashboard reads from a run store: bounded queries shaped for pages.

Every query here is limited (a page of events, the latest N) or aggregated in
SQLite, so a page costs the same for a run of 20 events as for one of 20,000.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from labcoat.store import gates
from labcoat.store.runstore import RunInfo, RunStore

# Kinds that mark the phase timeline; everything else is dialogue or detail.
TIMELINE_KINDS = ("phase_start", "phase_end", "gate", "revisit")
EVENT_PAGE = 100
LIVE_TAIL = 30


@dataclass
class PhaseSpan:
    phase: str
    attempt: int
    started: float
    ended: float | None = None
    decision: str | None = None
    notes: str = ""
    dollars: float = 0.0
    tokens: int = 0
    calls: int = 0

    @property
    def duration_s(self) -> float | None:
        return None if self.ended is None else max(0.0, self.ended - self.started)


@dataclass
class CostTable:
    budget: float | None
    total: float = 0.0
    tokens: int = 0
    by_phase: list[dict] = field(default_factory=list)
    by_role: list[dict] = field(default_factory=list)
    by_model: list[dict] = field(default_factory=list)
    # agents' calls apart from those experiment programs made through the gateway
    by_spender: list[dict] = field(default_factory=list)
    by_program: list[dict] = field(default_factory=list)

    @property
    def fraction(self) -> float | None:
        if not self.budget:
            return None
        return self.total / self.budget


def _event(row: sqlite3.Row) -> dict:
    kind = row["kind"]
    try:
        payload = json.loads(row["payload"])
    except ValueError:
        payload, kind = {"unreadable payload": row["payload"][:200]}, f"{kind} (unreadable)"
    if not isinstance(payload, dict):
        payload = {"value": payload}
    return {"pos": row["pos"], "ts": row["ts"], "phase": row["phase"], "kind": kind, "payload": payload}


def timeline(store: RunStore) -> list[PhaseSpan]:
    """Phase attempts in order, with durations, gate decisions and what they cost."""
    marks = ",".join("?" * len(TIMELINE_KINDS))
    rows = store.db.execute(
        f"SELECT pos, ts, phase, kind, payload FROM events WHERE kind IN ({marks}) ORDER BY pos", TIMELINE_KINDS)
    spans: list[PhaseSpan] = []
    open_span: dict[str, PhaseSpan] = {}
    for ev in map(_event, rows):
        phase = ev["phase"] or "run"
        if ev["kind"] == "phase_start":
            span = PhaseSpan(phase, int(ev["payload"].get("attempt", 0) or 0), ev["ts"])
            spans.append(span)
            open_span[phase] = span
        elif phase in open_span:
            span = open_span[phase]
            if ev["kind"] == "phase_end":
                span.ended = ev["ts"]
            elif ev["kind"] == "gate":
                span.decision = ev["payload"].get("decision")
                span.notes = str(ev["payload"].get("notes", ""))
            elif ev["kind"] == "revisit":
                span.ended = span.ended or ev["ts"]
                span.decision = f"back to {ev['payload'].get('to')}"
    for span in spans:
        # effect keys start with "phase#attempt/": a range over the ledger's primary key
        head = f"{span.phase}#{span.attempt}/"
        row = store.db.execute(
            "SELECT COALESCE(SUM(dollars), 0), COALESCE(SUM(input_tokens + output_tokens), 0), COUNT(*) "
            "FROM ledger WHERE effect_key >= ? AND effect_key < ?", (head, head[:-1] + "0")).fetchone()
        span.dollars, span.tokens, span.calls = float(row[0]), int(row[1]), int(row[2])
    return spans


def _ledger_column(store: RunStore, name: str) -> str:
    """`name`, or 0 when the store predates that column: the dashboard opens stores read-only, unmigrated."""
    present = {r[1] for r in store.db.execute("PRAGMA table_info(ledger)")}
    return name if name in present else "0"


def costs(store: RunStore, budget: float | None) -> CostTable:
    table = CostTable(budget=budget, total=store.dollars_spent(), tokens=store.tokens_spent())
    writes = _ledger_column(store, "cache_write_tokens")
    for column, target in (("phase", table.by_phase), ("role", table.by_role), ("model", table.by_model)):
        for r in store.db.execute(
                f"SELECT COALESCE({column}, '-') AS name, SUM(dollars) AS dollars, SUM(input_tokens) AS input, "
                f"SUM(cached_tokens) AS cached, SUM({writes}) AS cache_write, "
                f"SUM(output_tokens) AS output, COUNT(*) AS calls, "
                f"SUM(latency_s) AS latency FROM ledger GROUP BY {column} ORDER BY SUM(dollars) DESC"):
            target.append(dict(r))
    sums = ("SUM(dollars) AS dollars, SUM(input_tokens) AS input, SUM(cached_tokens) AS cached, "
            f"SUM({writes}) AS cache_write, "
            "SUM(output_tokens) AS output, COUNT(*) AS calls, SUM(latency_s) AS latency")
    table.by_spender = [dict(r) for r in store.db.execute(
        f"SELECT CASE WHEN role='experiment' THEN 'experiment programs' ELSE 'agents' END AS name, {sums} "
        "FROM ledger GROUP BY name ORDER BY name")]
    table.by_program = [dict(r) for r in store.db.execute(
        f"SELECT COALESCE(node, '-') AS name, {sums} FROM ledger WHERE role='experiment' GROUP BY node "
        "ORDER BY SUM(dollars) DESC LIMIT 100")]
    return table


def latest_events(store: RunStore, limit: int = LIVE_TAIL) -> list[dict]:
    rows = store.db.execute("SELECT pos, ts, phase, kind, payload FROM events ORDER BY pos DESC LIMIT ?", (limit,))
    return list(reversed([_event(r) for r in rows]))


def events_after(store: RunStore, after: int, limit: int = EVENT_PAGE, phase: str | None = None) -> list[dict]:
    if phase:
        rows = store.db.execute(
            "SELECT pos, ts, phase, kind, payload FROM events WHERE phase=? AND pos>? ORDER BY pos LIMIT ?",
            (phase, after, limit))
    else:
        rows = store.db.execute("SELECT pos, ts, phase, kind, payload FROM events WHERE pos>? ORDER BY pos LIMIT ?",
                                (after, limit))
    return [_event(r) for r in rows]


def event_count(store: RunStore, phase: str | None = None) -> int:
    if phase:
        return store.db.execute("SELECT COUNT(*) FROM events WHERE phase=?", (phase,)).fetchone()[0]
    return store.db.execute("SELECT COUNT(*) FROM events").fetchone()[0]


def last_pos(store: RunStore) -> int:
    return int(store.db.execute("SELECT COALESCE(MAX(pos), -1) FROM events").fetchone()[0])


def phases_seen(store: RunStore) -> list[str]:
    return [r[0] for r in store.db.execute(
        "SELECT phase FROM events WHERE kind='phase_start' AND phase IS NOT NULL GROUP BY phase ORDER BY MIN(pos)")]


def models_used(config: dict, store: RunStore) -> list[str]:
    """Models the ledger saw, else the ones the config names."""
    seen = [r[0] for r in store.db.execute("SELECT model FROM ledger GROUP BY model ORDER BY SUM(dollars) DESC")]
    if seen:
        return seen
    models = _section(config, "models")
    named = [models.get("default")] + list(_section(models, "phases").values()) \
        + list(_section(models, "roles").values())
    return sorted({str(m) for m in named if m})


def pending_gate(store: RunStore) -> gates.GateRow | None:
    rows = gates.pending(store.db)
    return rows[-1] if rows else None


def artefact_names(store: RunStore) -> list[str]:
    return [r[0] for r in store.db.execute("SELECT name FROM artefacts ORDER BY ts")]


def live_state(store: RunStore) -> tuple[Any, ...]:
    """What the run header shows; when this changes the page refreshes its header."""
    info = store.info()
    gate = pending_gate(store)
    return (info.shown_state, info.phase, info.message, gate.key if gate else None, store.dollars_spent())


def _section(data: dict, key: str) -> dict:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def budget_of(config: dict) -> float | None:
    value = _section(config, "budget").get("dollars")
    return float(value) if isinstance(value, (int, float)) else None


@dataclass
class RunRow:
    info: RunInfo
    dollars: float
    models: list[str]


def run_row(store: RunStore) -> RunRow:
    info = store.info()
    try:
        config = store.config()
    except ValueError:
        config = {}
    if not isinstance(config, dict):
        config = {}
    return RunRow(info=info, dollars=store.dollars_spent(), models=models_used(config, store))
