"""The `gates` table: co-pilot questions a run waits on, answerable by any process.

The run's process asks (`ask`) and polls (`get`); the dashboard or the
terminal answers (`answer`). Answering is one conditional UPDATE, so of two
answers racing for one gate exactly one wins and the other learns it lost.
The answer that the workflow then records as an effect is the one that counts
on replay; this table only carries it across processes.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from labcoat.errors import StoreError
from labcoat.store.runstore import dumps


@dataclass(frozen=True)
class GateRow:
    key: str
    phase: str
    attempt: int
    summary: str
    asked_at: float
    answer: dict[str, Any] | None
    answered_at: float | None
    answered_by: str | None

    @property
    def pending(self) -> bool:
        return self.answer is None


def _row(r: sqlite3.Row) -> GateRow:
    return GateRow(key=r["key"], phase=r["phase"], attempt=int(r["attempt"]), summary=r["summary"],
                   asked_at=r["asked_at"], answer=json.loads(r["answer"]) if r["answer"] is not None else None,
                   answered_at=r["answered_at"], answered_by=r["answered_by"])


def has_table(db: sqlite3.Connection) -> bool:
    """False for a run store written before gates existed (nothing can be pending there)."""
    return db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='gates'").fetchone() is not None


def ask(db: sqlite3.Connection, key: str, phase: str, attempt: int, summary: str) -> GateRow:
    """Record that the run waits at `key`.

    An answer already given to this same question (while the run's process was
    down) is kept and returned; an answer to a different summary (the phase
    came out differently this time) is stale, and the gate is pending again.
    """
    db.execute(
        "INSERT INTO gates (key, phase, attempt, summary, asked_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT(key) DO UPDATE SET summary=excluded.summary, asked_at=excluded.asked_at, answer=NULL, "
        "answered_at=NULL, answered_by=NULL WHERE gates.answer IS NULL OR gates.summary IS NOT excluded.summary",
        (key, phase, attempt, summary, time.time()),
    )
    row = get(db, key)
    if row is None:
        raise StoreError(f"the gate {key!r} was written but cannot be read back")
    return row


def get(db: sqlite3.Connection, key: str) -> GateRow | None:
    r = db.execute("SELECT * FROM gates WHERE key=?", (key,)).fetchone()
    return _row(r) if r is not None else None


def pending(db: sqlite3.Connection) -> list[GateRow]:
    if not has_table(db):
        return []
    return [_row(r) for r in db.execute("SELECT * FROM gates WHERE answer IS NULL ORDER BY asked_at")]


def answer(db: sqlite3.Connection, key: str, value: dict[str, Any], by: str) -> bool:
    """Answer a pending gate; False if it is not pending (unknown or already answered)."""
    if not has_table(db):
        return False
    cur = db.execute(
        "UPDATE gates SET answer=?, answered_at=?, answered_by=? WHERE key=? AND answer IS NULL",
        (dumps(value), time.time(), by, key),
    )
    return cur.rowcount == 1
