"""Durable replay: every side effect of a run goes through `Effects`.

An effect is keyed by its logical position in the run (phase, step, agent
turn, candidate, attempt), never by completion order, so effects that ran in
parallel replay the same way. A recorded effect is served only if the request
made now hashes the same as the one recorded; on the first mismatch replay
stops for good (the code or config changed), the divergence is logged, and
every later effect runs live and replaces its stale record.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from labcoat.errors import StoreError
from labcoat.store.runstore import RunStore, dumps


READ_AHEAD = 64  # rows; bounded because results (program output) can be large


def request_hash(request: Any) -> str:
    return hashlib.sha256(dumps(request).encode("utf-8")).hexdigest()


@dataclass
class Recorded:
    key: str
    kind: str
    result: Any


class Effects:
    """Memoises side effects in a RunStore; the only path for anything non-deterministic."""

    def __init__(self, store: RunStore, base_seed: int | None = None):
        self.store = store
        self.base_seed = base_seed
        self.diverged_at: str | None = None
        self.replayed = 0
        self.executed = 0
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        # Rows read ahead: a replay asks for effects in about the order they were recorded.
        self._ahead: dict[str, Any] = {}

    def _claim(self, key: str) -> None:
        # Two effects with one key would replay each other's results: a bug in
        # the caller's key scheme, caught here rather than as a wrong transcript.
        with self._lock:
            if key in self._seen:
                raise StoreError(f"effect key used twice in one run: {key!r}")
            self._seen.add(key)

    def lookup(self, kind: str, key: str, request: Any) -> Recorded | None:
        """The recorded result for `key` if it may be served, else None.

        Claims the key: call `record` next for the same key when this returns None.
        """
        self._claim(key)
        if self.diverged_at is not None:
            return None
        row = self._stored(key)
        if row is None:
            return None
        if row["request_hash"] != request_hash(request) or row["kind"] != kind:
            with self._lock:
                self._ahead.clear()
                if self.diverged_at is None:
                    self.diverged_at = key
            self.store.log(
                "replay_diverged",
                f"replay stopped at {key}: the request differs from the recorded one "
                "(code or config changed); continuing live from here",
                key=key, effect_kind=kind,
            )
            return None
        with self._lock:
            self.replayed += 1
        return Recorded(key=key, kind=kind, result=json.loads(row["result"]))

    def _stored(self, key: str) -> Any:
        with self._lock:
            row = self._ahead.pop(key, None)
        if row is not None:
            return row
        rows = self.store.effect_rows_from(key, READ_AHEAD)
        if not rows:
            return None
        with self._lock:
            self._ahead = {r["key"]: r for r in rows[1:]}
        return rows[0]

    def record(self, kind: str, key: str, request: Any, result: Any, duration_s: float = 0.0) -> None:
        self._record(kind, key, request, dumps(result), duration_s)

    def _record(self, kind: str, key: str, request: Any, result_text: str, duration_s: float) -> None:
        request_text = dumps(request)
        digest = hashlib.sha256(request_text.encode("utf-8")).hexdigest()
        self.store.put_effect(key, kind, digest, request_text, result_text, duration_s)
        with self._lock:
            self._ahead.pop(key, None)
            self.executed += 1

    def run(self, kind: str, key: str, request: Any, fn: Callable[[], Any]) -> Any:
        """Serve `key` from the store, or call `fn()` live and record its JSON result.

        Exceptions from `fn` propagate unrecorded: the effect runs again on
        resume. Errors that belong in the transcript (a tool's clear error for
        the agent) must be returned by `fn` as data, not raised.
        """
        hit = self.lookup(kind, key, request)
        if hit is not None:
            return hit.result
        started = time.monotonic()
        text = dumps(fn())
        self._record(kind, key, request, text, time.monotonic() - started)
        # Round-trip through JSON so live and replayed runs see identical values.
        return json.loads(text)

    def seed(self, key: str) -> int:
        """A recorded random seed: the same on replay; fresh on a live run, or
        derived from the config's `seed` and the key so a seeded run repeats."""
        base = self.base_seed

        def draw() -> int:
            if base is None:
                return random.SystemRandom().randrange(2**31)
            digest = hashlib.sha256(f"{base}:{key}".encode("utf-8")).digest()
            return int.from_bytes(digest[:4], "big") % 2**31

        return int(self.run("random", key, {"what": "seed", "base": base}, draw))
