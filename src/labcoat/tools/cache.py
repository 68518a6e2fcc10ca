"""A small SQLite disk cache for tool responses (search results, full texts)."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from labcoat.errors import ConfigError

SCHEMA = """
CREATE TABLE IF NOT EXISTS cache (
    ns TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (ns, key)
)
"""


def default_cache_dir() -> Path:
    """LABCOAT_CACHE_DIR, else $XDG_CACHE_HOME/labcoat, else ~/.cache/labcoat."""
    env = os.environ.get("LABCOAT_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "labcoat"


class DiskCache:
    """JSON values by (namespace, key); opened lazily, safe across threads and processes."""

    def __init__(self, path: Path, *, max_age_s: float | None = None):
        self.path = Path(path)
        self.max_age_s = max_age_s
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(SCHEMA)
            except (OSError, sqlite3.Error) as exc:
                raise ConfigError(f"cannot open the tool cache {self.path}: {exc}; point LABCOAT_CACHE_DIR at a "
                                  "writable folder", path="LABCOAT_CACHE_DIR") from None
            self._conn = conn
        return self._conn

    def get(self, ns: str, key: str, *, max_age_s: float | None = None) -> Any | None:
        """The cached value, or None when absent or older than `max_age_s` (default: the cache's)."""
        with self._lock:
            row = self._db().execute("SELECT value, created FROM cache WHERE ns=? AND key=?",
                                     (ns, key)).fetchone()
        limit = max_age_s if max_age_s is not None else self.max_age_s
        if row is None or (limit is not None and time.time() - row[1] > limit):
            self.misses += 1
            return None
        self.hits += 1
        return json.loads(row[0])

    def put(self, ns: str, key: str, value: Any) -> None:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
        with self._lock:
            self._db().execute("INSERT OR REPLACE INTO cache(ns, key, value, created) VALUES (?,?,?,?)",
                               (ns, key, text, time.time()))

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
