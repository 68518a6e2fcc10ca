"""RunStore: the tables of one run's `run.db` and the folders beside it.

One process writes (the driver running the workflow); any number read. WAL
mode lets readers (the dashboard, `labcoat status`) see committed data without
ever blocking the writer. Every write is one short transaction.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from labcoat.errors import RunNotFound, StoreError
from labcoat.store.migrations import migrate
from labcoat.store.runinfo import RunInfo

DB_NAME = "run.db"


def dumps(value: Any) -> str:
    """Canonical JSON: sorted keys, no NaN surprises, UTF-8 kept readable."""
    # One encoder (it holds no state between calls) spares building one per effect and event.
    return _CANONICAL.encode(value)


def _default(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_default)


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    if readonly and not path.exists():
        raise StoreError(f"{path} does not exist")
    db: sqlite3.Connection | None = None
    try:
        if readonly:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30, isolation_level=None,
                                 check_same_thread=False)
        else:
            db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            # NORMAL is durable across process kills in WAL mode (only an OS crash
            # can lose the last transactions), and much faster than FULL.
            db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=30000")
        # Fails here, not at the first query, when the file is not a database.
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        if db is not None:
            db.close()
        raise StoreError(f"{path} is not a readable labcoat run store: {exc}") from exc
    db.row_factory = sqlite3.Row
    return db


class RunStore:
    """All reads and writes of one run directory."""

    def __init__(self, run_dir: Path, *, readonly: bool = False):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / DB_NAME
        self.readonly = readonly
        self._lock = threading.RLock()
        if readonly:
            self.db = connect(self.path, readonly=True)
        else:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.db = connect(self.path)
            try:
                migrate(self.db)
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"{self.path} is not a readable labcoat run store: {exc}") from exc

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "RunStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, sql: str, params: tuple = ()) -> sqlite3.Cursor:
        with self._lock:
            return self.db.execute(sql, params)

    def transaction(self) -> "_Tx":
        return _Tx(self)

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside see one consistent state of the run, however the writer moves on."""
        with self._lock:
            if self.db.in_transaction:
                yield
                return
            self.db.execute("BEGIN")
            try:
                yield
            finally:
                self.db.execute("COMMIT")

    # -- runs -------------------------------------------------------------
    def create_run(self, run_id: str, topic: str, config: dict, version: str) -> None:
        now = time.time()
        self._write(
            "INSERT INTO runs (id, topic, created_at, updated_at, state, config_json, labcoat_version) "
            "VALUES (?, ?, ?, ?, 'created', ?, ?)",
            (run_id, topic, now, now, dumps(config), version),
        )

    def run_row(self) -> sqlite3.Row:
        row = self.db.execute("SELECT * FROM runs LIMIT 1").fetchone()
        if row is None:
            raise StoreError(f"{self.path} holds no run")
        return row

    def info(self) -> RunInfo:
        row = self.run_row()
        return RunInfo(
            id=row["id"], topic=row["topic"], state=row["state"], phase=row["phase"],
            created_at=row["created_at"], updated_at=row["updated_at"], message=row["message"],
            pid=row["pid"], heartbeat=row["heartbeat"], run_dir=self.run_dir,
        )

    def config(self) -> dict:
        return json.loads(self.run_row()["config_json"])

    def update_config(self, config: dict) -> None:
        self._write("UPDATE runs SET config_json=?, updated_at=?", (dumps(config), time.time()))

    def set_state(self, state: str, *, phase: str | None = None, message: str | None = None,
                  pid: int | None = None) -> None:
        now = time.time()
        sets = ["state=?", "updated_at=?", "heartbeat=?", "message=?"]
        params: list[Any] = [state, now, now, message]
        if phase is not None:
            sets.append("phase=?")
            params.append(phase)
        if pid is not None:
            sets.append("pid=?")
            params.append(pid)
        self._write(f"UPDATE runs SET {', '.join(sets)}", tuple(params))

    # -- events (deterministic transcript) --------------------------------
    def event_rows(self, start: int, limit: int) -> list[tuple[int, str | None, str, str]]:
        """Raw (pos, phase, kind, payload JSON) from `start` on, for reading ahead during replay."""
        return [tuple(r) for r in self.db.execute(  # type: ignore[misc]
            "SELECT pos, phase, kind, payload FROM events WHERE pos>=? ORDER BY pos LIMIT ?", (start, limit))]

    def put_event(self, pos: int, phase: str | None, kind: str, payload: dict, *, fresh: bool = False) -> bool:
        """Write event `pos` unless an identical one is there; return True if written.

        A different event at `pos` means the run took another path after a
        replay divergence: the old tail (pos and after) is stale and removed.
        `fresh` says the caller knows no event is stored at `pos` (one statement then).
        """
        text = dumps(payload)
        if fresh:
            try:
                with self._lock:
                    self.db.execute("INSERT INTO events (pos, ts, phase, kind, payload) VALUES (?, ?, ?, ?, ?)",
                                    (pos, time.time(), phase, kind, text))
                return True
            except sqlite3.IntegrityError:
                pass  # it was there after all: compare as usual
        row = self.db.execute("SELECT phase, kind, payload FROM events WHERE pos=?", (pos,)).fetchone()
        if row is not None and (row["phase"], row["kind"], row["payload"]) == (phase, kind, text):
            return False  # replayed: already written by an earlier process
        with self._lock, self.transaction():
            if row is not None:
                self.db.execute("DELETE FROM events WHERE pos>=?", (pos,))
            self.db.execute(
                "INSERT INTO events (pos, ts, phase, kind, payload) VALUES (?, ?, ?, ?, ?)",
                (pos, time.time(), phase, kind, text),
            )
            return True

    def events(self, *, phase: str | None = None, after: int = -1, kinds: list[str] | None = None,
               limit: int | None = None) -> list[dict]:
        sql = "SELECT pos, ts, phase, kind, payload FROM events WHERE pos>?"
        params: list[Any] = [after]
        if phase:
            sql += " AND phase=?"
            params.append(phase)
        if kinds:
            sql += f" AND kind IN ({','.join('?' * len(kinds))})"
            params.extend(kinds)
        sql += " ORDER BY pos"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [
            {"pos": r["pos"], "ts": r["ts"], "phase": r["phase"], "kind": r["kind"],
             "payload": json.loads(r["payload"])}
            for r in self.db.execute(sql, params)
        ]

    def truncate_events(self, from_pos: int) -> None:
        self._write("DELETE FROM events WHERE pos>=?", (from_pos,))

    # -- lifecycle (what happened to the process) -------------------------
    def log(self, kind: str, message: str, **payload: Any) -> None:
        self._write("INSERT INTO lifecycle (ts, kind, message, payload) VALUES (?, ?, ?, ?)",
                    (time.time(), kind, message, dumps(payload)))

    def lifecycle(self) -> list[dict]:
        return [
            {"seq": r["seq"], "ts": r["ts"], "kind": r["kind"], "message": r["message"],
             "payload": json.loads(r["payload"])}
            for r in self.db.execute("SELECT * FROM lifecycle ORDER BY seq")
        ]

    # -- effects -----------------------------------------------------------
    def get_effect(self, key: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM effects WHERE key=?", (key,)).fetchone()

    def effect_rows_from(self, key: str, limit: int) -> list[sqlite3.Row]:
        """The effect `key` and those recorded after it, in order (empty if `key` is not stored)."""
        return self.db.execute(
            "SELECT * FROM effects WHERE rowid >= (SELECT rowid FROM effects WHERE key=?) ORDER BY rowid LIMIT ?",
            (key, limit)).fetchall()

    def effect_by_request(self, kind: str, req_hash: str) -> sqlite3.Row | None:
        """The first recorded effect of `kind` whose request hashes to `req_hash`."""
        return self.db.execute("SELECT * FROM effects WHERE kind=? AND request_hash=? ORDER BY rowid LIMIT 1",
                               (kind, req_hash)).fetchone()

    def effects_under(self, prefix: str, kind: str) -> list[sqlite3.Row]:
        """Effects of `kind` whose key starts with `prefix`, in the order they were recorded."""
        like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        return self.db.execute("SELECT * FROM effects WHERE kind=? AND key LIKE ? ESCAPE '\\' ORDER BY rowid",
                               (kind, like)).fetchall()

    def put_effect(self, key: str, kind: str, req_hash: str, request: str, result: str,
                   duration_s: float) -> None:
        now = time.time()
        row = (key, kind, req_hash, request, result, now, duration_s)
        with self._lock:
            try:
                # The common case, a new key, is one statement and one commit.
                self.db.execute("INSERT INTO effects (key, kind, request_hash, request, result, ts, duration_s) "
                                "VALUES (?, ?, ?, ?, ?, ?, ?)", row)
                return
            except sqlite3.IntegrityError:
                pass  # the key was recorded before a replay divergence: supersede it
            with self.transaction():
                self.db.execute(
                    "INSERT INTO effects_superseded (key, kind, request_hash, request, result, ts, superseded_at) "
                    "SELECT key, kind, request_hash, request, result, ts, ? FROM effects WHERE key=?", (now, key))
                self.db.execute(
                    "INSERT OR REPLACE INTO effects (key, kind, request_hash, request, result, ts, duration_s) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)", row)

    def effect_count(self, kind: str | None = None) -> int:
        if kind:
            return self.db.execute("SELECT COUNT(*) FROM effects WHERE kind=?", (kind,)).fetchone()[0]
        return self.db.execute("SELECT COUNT(*) FROM effects").fetchone()[0]

    # -- artefacts ---------------------------------------------------------
    def put_artefact(self, name: str, kind: str, data: Any, *, phase: str | None = None,
                     files: list[str] | None = None) -> None:
        self._write(
            "INSERT OR REPLACE INTO artefacts (name, phase, kind, data, files, ts) VALUES (?, ?, ?, ?, ?, ?)",
            (name, phase, kind, dumps(data), dumps(files or []), time.time()),
        )

    def artefact(self, name: str) -> dict | None:
        row = self.db.execute("SELECT * FROM artefacts WHERE name=?", (name,)).fetchone()
        if row is None:
            return None
        return {"name": row["name"], "phase": row["phase"], "kind": row["kind"],
                "data": json.loads(row["data"]), "files": json.loads(row["files"]), "ts": row["ts"]}

    def artefacts(self) -> list[dict]:
        names = [r[0] for r in self.db.execute("SELECT name FROM artefacts ORDER BY ts, name")]
        return [a for a in (self.artefact(n) for n in names) if a is not None]

    # -- cost ledger ---------------------------------------------------------
    def put_ledger(self, effect_key: str, *, phase: str | None, role: str | None, model: str,
                   input_tokens: int = 0, cached_tokens: int = 0, output_tokens: int = 0,
                   reasoning_tokens: int = 0, dollars: float = 0.0, latency_s: float = 0.0,
                   node: str | None = None, cache_write_tokens: int = 0) -> None:
        """`node` names the program (its exec effect key) for calls experiments made through the gateway.
        `input_tokens` counts every prompt token; `cached_tokens` (read from a provider's cache) and
        `cache_write_tokens` (written to it) are the parts of it billed at other rates."""
        self._write(
            "INSERT OR REPLACE INTO ledger (effect_key, ts, phase, role, model, input_tokens, cached_tokens, "
            "output_tokens, reasoning_tokens, dollars, latency_s, node, cache_write_tokens) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (effect_key, time.time(), phase, role, model, input_tokens, cached_tokens, output_tokens,
             reasoning_tokens, dollars, latency_s, node, cache_write_tokens),
        )

    def ledger(self) -> list[dict]:
        return [dict(r) for r in self.db.execute("SELECT * FROM ledger ORDER BY ts")]

    def dollars_spent(self) -> float:
        return float(self.db.execute("SELECT COALESCE(SUM(dollars), 0) FROM ledger").fetchone()[0])

    def tokens_spent(self) -> int:
        return int(self.db.execute(
            "SELECT COALESCE(SUM(input_tokens + output_tokens), 0) FROM ledger").fetchone()[0])


class _Tx:
    """BEGIN IMMEDIATE ... COMMIT/ROLLBACK; re-entrant within one thread."""

    def __init__(self, store: RunStore):
        self.store = store
        self.outer = False

    def __enter__(self) -> None:
        self.store._lock.acquire()
        if not self.store.db.in_transaction:
            self.store.db.execute("BEGIN IMMEDIATE")
            self.outer = True

    def __exit__(self, exc_type: object, *rest: object) -> None:
        try:
            if self.outer:
                self.store.db.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self.store._lock.release()


def open_store(run_dir: Path | str, *, readonly: bool = False) -> RunStore:
    run_dir = Path(run_dir)
    if not (run_dir / DB_NAME).exists():
        raise RunNotFound(f"no run store at {run_dir / DB_NAME}")
    return RunStore(run_dir, readonly=readonly)


def runs_root(explicit: Path | str | None = None) -> Path:
    """Where runs live: --runs, else $LABCOAT_RUNS, else ./runs."""
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("LABCOAT_RUNS", "runs"))


def iter_run_dirs(root: Path) -> Iterator[Path]:
    if not root.is_dir():
        return
    for db in sorted(root.glob(f"**/{DB_NAME}")):
        yield db.parent


def find_run(ref: str, root: Path | str | None = None) -> Path:
    """Resolve a run by path, by exact id, or by a unique id prefix."""
    as_path = Path(ref)
    if (as_path / DB_NAME).exists():
        return as_path
    base = runs_root(root)
    matches = [d for d in iter_run_dirs(base) if d.name == ref]
    if not matches:
        matches = [d for d in iter_run_dirs(base) if d.name.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        names = ", ".join(d.name for d in matches[:5])
        raise RunNotFound(f"'{ref}' matches several runs ({names}); give more of the id")
    raise RunNotFound(f"no run '{ref}' under {base.resolve()} (give a run id or a run directory; "
                      "`labcoat runs` lists them)")


def list_runs(root: Path | str | None = None) -> list[RunInfo | tuple[Path, str]]:
    """Every run under the root; unreadable ones come back as (path, error)."""
    out: list[RunInfo | tuple[Path, str]] = []
    for run_dir in iter_run_dirs(runs_root(root)):
        try:
            with RunStore(run_dir, readonly=True) as store:
                out.append(store.info())
        except (StoreError, sqlite3.DatabaseError) as exc:
            out.append((run_dir, str(exc)))
    return out
