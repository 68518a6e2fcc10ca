"""Schema migrations: each migration and its record commit together, so a kill mid-upgrade loses nothing."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from labcoat.errors import StoreError
from labcoat.store import RunStore
from labcoat.store.migrations import MIGRATIONS

# Opens an old store (all migrations but the last recorded) and is killed by the
# test while the last migration's DDL is done but its record not yet written.
UPGRADER = textwrap.dedent("""
    import sys, time
    from labcoat.store import migrations
    from labcoat.store.runstore import RunStore

    run_dir, phase = sys.argv[1], sys.argv[2]
    last_name, last_fn = migrations.MIGRATIONS[-1]
    if phase == "old":
        del migrations.MIGRATIONS[-1]
        RunStore(run_dir).close()
        sys.exit(0)

    def ddl_then_wait(db):
        last_fn(db)
        print("ddl-done", flush=True)
        time.sleep(600)

    migrations.MIGRATIONS[-1] = (last_name, ddl_then_wait)
    RunStore(run_dir)
""")


def _applied(run_dir: Path) -> list[str]:
    db = sqlite3.connect(run_dir / "run.db")
    try:
        return [r[0] for r in db.execute("SELECT name FROM _migrations ORDER BY rowid")]
    finally:
        db.close()


def _objects(run_dir: Path) -> set[str]:
    db = sqlite3.connect(run_dir / "run.db")
    try:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
    finally:
        db.close()


def test_a_process_killed_between_a_migrations_ddl_and_its_record_leaves_a_store_that_upgrades(
        tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    script = tmp_path / "upgrader.py"
    script.write_text(UPGRADER)
    subprocess.run([sys.executable, str(script), str(run_dir), "old"], check=True, timeout=120)
    names = [name for name, _ in MIGRATIONS]
    assert _applied(run_dir) == names[:-1]
    before = _objects(run_dir)

    proc = subprocess.Popen([sys.executable, str(script), str(run_dir), "new"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ddl-done"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=120)
    assert proc.returncode == -signal.SIGKILL

    # The killed transaction left nothing: neither the record nor the half of the schema change.
    assert _applied(run_dir) == names[:-1]
    assert _objects(run_dir) == before
    with RunStore(run_dir) as store:
        assert [r[0] for r in store.db.execute("SELECT name FROM _migrations ORDER BY rowid")] == names
        store.db.execute("SELECT count(*) FROM gates").fetchone()


GATES = "m003_gates_and_event_kinds"


def _store_upgraded_by_an_old_labcoat(run_dir: Path, *, keep: set[str] | None = None) -> None:
    """What an earlier labcoat (DDL committed before its record) left when killed in between."""
    with RunStore(run_dir) as store:
        # killed inside the gates migration: neither it nor any later one is recorded
        later = [name for name, _ in MIGRATIONS][[name for name, _ in MIGRATIONS].index(GATES):]
        store.db.executemany("DELETE FROM _migrations WHERE name = ?", [(name,) for name in later])
        if keep is not None:
            for name, sql in list(store.db.execute("SELECT name, sql FROM sqlite_master WHERE name IN "
                                                   "('gates', 'events_kind')")):
                if name not in keep:
                    store.db.execute(f"DROP {'INDEX' if sql.startswith('CREATE INDEX') else 'TABLE'} {name}")


def test_a_whole_migration_left_unrecorded_by_an_older_labcoat_is_recorded_on_open(tmp_path: Path) -> None:
    _store_upgraded_by_an_old_labcoat(tmp_path)
    with RunStore(tmp_path) as store:
        assert [r[0] for r in store.db.execute("SELECT name FROM _migrations ORDER BY rowid")] == [
            name for name, _ in MIGRATIONS]


def test_a_half_applied_migration_is_named_with_what_to_do(tmp_path: Path) -> None:
    _store_upgraded_by_an_old_labcoat(tmp_path, keep={"events_kind"})
    with pytest.raises(StoreError) as err:
        RunStore(tmp_path)
    message = str(err.value)
    assert "half-migrated" in message and GATES in message
    assert "present: events_kind; missing: gates" in message and "DROP INDEX events_kind" in message
    # Following the advice works.
    db = sqlite3.connect(tmp_path / "run.db")
    db.execute("DROP INDEX events_kind")
    db.close()
    with RunStore(tmp_path) as store:
        assert {"gates", "events_kind"} <= {r[0] for r in store.db.execute("SELECT name FROM sqlite_master")}


def test_a_failing_migration_rolls_back_its_ddl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from labcoat.store import migrations

    def creates_then_fails(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE half (x)")
        on_disk = db.execute("PRAGMA database_list").fetchone()[2]  # labcoat first learns the schema in memory
        if on_disk:
            raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(migrations, "MIGRATIONS", [*MIGRATIONS, ("m998_fails", creates_then_fails)])
    with pytest.raises(StoreError, match="not a readable labcoat run store.*disk I/O"):
        RunStore(tmp_path)
    assert "half" not in _objects(tmp_path)
    assert _applied(tmp_path) == [name for name, _ in MIGRATIONS]
    monkeypatch.setattr(migrations, "MIGRATIONS", MIGRATIONS)
    RunStore(tmp_path).close()
