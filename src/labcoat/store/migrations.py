"""Schema migrations of run.db.

Each migration is a small named function appended to `MIGRATIONS` by the
`migration` decorator; `migrate()` applies the ones not yet recorded in the
`_migrations` table, in order. Each migration's DDL and its `_migrations` row
commit in one explicit transaction (SQLite DDL is transactional), so a process
killed mid-upgrade leaves the store as it was before that migration. Migrations
run their statements through `run_script`, never `executescript`, which
commits on its own. Never edit a migration that has shipped: append a new one.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Callable

from labcoat.errors import StoreError

Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[tuple[str, Migration]] = []


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append((fn.__name__, fn))
    return fn


@migration
def m001_initial(db: sqlite3.Connection) -> None:
    run_script(
        db,
        """
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            topic TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            state TEXT NOT NULL,          -- created, running, paused, waiting, failed, finished
            phase TEXT,
            config_json TEXT NOT NULL,    -- the validated config, secrets refused at load
            pid INTEGER,
            heartbeat REAL,
            message TEXT,
            labcoat_version TEXT
        );
        -- The deterministic transcript: position `pos` is assigned by the
        -- workflow as it runs, so a replayed run emits the same sequence.
        CREATE TABLE events (
            pos INTEGER PRIMARY KEY,
            ts REAL NOT NULL,
            phase TEXT,
            kind TEXT NOT NULL,
            payload TEXT NOT NULL
        );
        CREATE INDEX events_phase ON events(phase, pos);
        -- What happened to the process running the workflow (started, resumed,
        -- paused, replay diverged...). Not deterministic, so kept apart.
        CREATE TABLE lifecycle (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            ts REAL NOT NULL,
            kind TEXT NOT NULL,
            message TEXT NOT NULL,
            payload TEXT NOT NULL DEFAULT '{}'
        );
        -- Memoised side effects keyed by logical position in the run.
        CREATE TABLE effects (
            key TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            request_hash TEXT NOT NULL,
            request TEXT NOT NULL,
            result TEXT NOT NULL,
            ts REAL NOT NULL,
            duration_s REAL NOT NULL DEFAULT 0
        );
        -- Effects replaced after a replay divergence, kept for inspection.
        CREATE TABLE effects_superseded (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            key TEXT NOT NULL,
            kind TEXT NOT NULL,
            request_hash TEXT NOT NULL,
            request TEXT NOT NULL,
            result TEXT NOT NULL,
            ts REAL NOT NULL,
            superseded_at REAL NOT NULL
        );
        CREATE TABLE artefacts (
            name TEXT PRIMARY KEY,
            phase TEXT,
            kind TEXT NOT NULL,
            data TEXT NOT NULL,           -- JSON
            files TEXT NOT NULL DEFAULT '[]',  -- paths relative to the run dir
            ts REAL NOT NULL
        );
        """
    )


@migration
def m002_ledger(db: sqlite3.Connection) -> None:
    # One row per LLM call actually made (replayed calls cost nothing and add no row).
    run_script(
        db,
        """
        CREATE TABLE ledger (
            effect_key TEXT PRIMARY KEY,
            ts REAL NOT NULL,
            phase TEXT,
            role TEXT,
            model TEXT NOT NULL,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            cached_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            reasoning_tokens INTEGER NOT NULL DEFAULT 0,
            dollars REAL NOT NULL DEFAULT 0,
            latency_s REAL NOT NULL DEFAULT 0
        );
        """
    )


@migration
def m003_gates_and_event_kinds(db: sqlite3.Connection) -> None:
    # Co-pilot questions a run is waiting on, so any process (the terminal, the
    # dashboard) can answer; `answer` stays NULL while pending. The kind index
    # lets readers find phase boundaries without scanning a long transcript.
    run_script(
        db,
        """
        CREATE INDEX events_kind ON events(kind, pos);
        CREATE TABLE gates (
            key TEXT PRIMARY KEY,         -- the gate effect's key, e.g. plan_formulation#0/gate
            phase TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            summary TEXT NOT NULL,
            asked_at REAL NOT NULL,
            answer TEXT,                  -- JSON {"decision": ..., "notes": ...}
            answered_at REAL,
            answered_by TEXT              -- "terminal" or "dashboard"
        );
        """
    )


@migration
def m004_experiment_calls(db: sqlite3.Connection) -> None:
    # Calls experiment programs make through the model gateway are ledger rows of
    # role `experiment`; `node` names the program (its exec effect key). The
    # request-hash index serves a repeated temperature-0 request from the record.
    run_script(db, """
        ALTER TABLE ledger ADD COLUMN node TEXT;
        CREATE INDEX effects_request ON effects(kind, request_hash);
    """)


@migration
def m005_cache_writes(db: sqlite3.Connection) -> None:
    # Anthropic bills tokens written to its prompt cache above plain input (1.25x for
    # five minutes): kept apart so cost views can show what caching saved and cost.
    run_script(db, """
        ALTER TABLE ledger ADD COLUMN cache_write_tokens INTEGER NOT NULL DEFAULT 0;
    """)


def run_script(db: sqlite3.Connection, script: str) -> None:
    """Execute `script` statement by statement inside the caller's transaction."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            db.execute(pending)
            pending = ""
    if pending.strip() and not pending.strip().startswith("--"):
        raise ValueError(f"incomplete SQL statement at the end of a migration: {pending.strip()[:80]!r}")


def applied(db: sqlite3.Connection) -> list[str]:
    db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
    return [row[0] for row in db.execute("SELECT name FROM _migrations ORDER BY rowid")]


def migrate(db: sqlite3.Connection) -> list[str]:
    """Apply pending migrations, each with its record in one transaction; return the names applied now."""
    done = set(applied(db))
    known = {name for name, _ in MIGRATIONS}
    unknown = done - known
    if unknown:
        raise StoreError(
            f"run.db was written by a newer labcoat (unknown migrations: {', '.join(sorted(unknown))}); "
            "upgrade labcoat to open it"
        )
    now_applied = []
    for name, fn in MIGRATIONS:
        if name in done:
            continue
        if _objects_left_by_an_interrupted_upgrade(db, name, fn):
            # Earlier labcoat versions committed a migration's DDL before its record: a
            # crash between the two left the whole schema change without its row.
            _record(db, name)
        else:
            db.execute("BEGIN IMMEDIATE")
            try:
                fn(db)
                db.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (name, time.time()))
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        now_applied.append(name)
    return now_applied


def _record(db: sqlite3.Connection, name: str) -> None:
    db.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (name, time.time()))


def _schema(db: sqlite3.Connection) -> dict[str, str]:
    return {row[0]: row[1] for row in db.execute(
        "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'")}


def _columns(db: sqlite3.Connection) -> set[str]:
    """Every column as `table.column`: a migration may only add columns (ALTER TABLE ... ADD COLUMN)."""
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {f"{t}.{r[1]}" for t in tables for r in db.execute(f"PRAGMA table_info('{t}')")}


def _objects_left_by_an_interrupted_upgrade(db: sqlite3.Connection, name: str, fn: Migration) -> bool:
    """True when `fn`'s schema objects (tables, indexes, added columns) are all present already;
    StoreError when only some are.

    What `fn` creates is learnt by running the migrations up to it on an empty in-memory database.
    """
    scratch = sqlite3.connect(":memory:", isolation_level=None)
    try:
        for earlier_name, earlier in MIGRATIONS:
            if earlier_name == name:
                break
            earlier(scratch)
        before, before_columns = set(_schema(scratch)), _columns(scratch)
        fn(scratch)
        created = {k: v for k, v in _schema(scratch).items() if k not in before}
        added = {c for c in _columns(scratch) - before_columns if c.split(".")[0] not in created}
    finally:
        scratch.close()
    present, present_columns = _schema(db), _columns(db)
    here = sorted([k for k in created if k in present] + [c for c in added if c in present_columns])
    if not here:
        return False
    missing = sorted([k for k in created if k not in present] + [c for c in added if c not in present_columns])
    if not missing:
        return True
    drops = [_drop(k, created[k]) if k in created else "ALTER TABLE {} DROP COLUMN {}".format(*k.split("."))
             for k in here]
    raise StoreError(
        f"run.db is half-migrated: migration {name} was interrupted by an earlier labcoat "
        f"(present: {', '.join(here)}; missing: {', '.join(missing)}). "
        f"Copy the run folder aside, drop the partial objects "
        f"({'; '.join(drops)}) with the sqlite3 shell, "
        f"then open the run again: labcoat applies {name} whole"
    )


def _drop(name: str, sql: str) -> str:
    kind = sql.split()[1].upper() if len(sql.split()) > 1 else "TABLE"
    if kind == "UNIQUE":
        kind = "INDEX"
    return f"DROP {kind} {name}"
