"""Semantic search that never makes a search wait for the embedding model.

The model takes seconds to load, and on a busy machine longer than a client's
30 s timeout. So the service loads it in a background thread when it starts,
then embeds every paper stored without a vector (uploaded while it loaded, or
while embeddings were off), and only then answers semantic searches. Until
then, and for good if loading fails, `why_not()` says why, and the service
answers with full-text (BM25) results and that reason instead.

    loading -> indexing -> ready
        \\-----------\\---> failed   (logged; full-text search goes on)
"""

from __future__ import annotations

import logging
import threading
import time

from labcoat.archive import embed
from labcoat.archive.store import ArchiveStore, embedding_text

log = logging.getLogger("labcoat.archive")

LOADING, INDEXING, READY, FAILED = "loading", "indexing", "ready", "failed"
FALLBACK = "these are full-text (BM25) results"
BATCH = 64


class SemanticIndex:
    def __init__(self, store: ArchiveStore, embedder: embed.Embedder):
        self.store = store
        self.embedder = embedder
        self._lock = threading.Lock()  # state, error, thread
        self._state = LOADING
        self._error: str | None = None
        self._started = time.monotonic()
        self._thread: threading.Thread | None = None
        # One writer of missing vectors at a time, so no paper is encoded twice.
        self._backfill_lock = threading.Lock()

    # -- the background start ---------------------------------------------------
    def start(self) -> None:
        """Load the model and embed the stored papers in a background thread (once)."""
        with self._lock:
            if self._thread is not None:
                return
            self._started = time.monotonic()
            self._thread = threading.Thread(target=self._prepare, name="archive-embeddings", daemon=True)
            self._thread.start()

    def _prepare(self) -> None:
        try:
            self.embedder.load()
        except Exception as exc:  # whatever the loader raised: reported, and full-text search goes on
            self._fail(f"the embedding model {self.embedder.model} failed to load ({type(exc).__name__}: {exc})",
                       exc)
            return
        self._set(INDEXING)
        try:
            count = self.backfill()
        except Exception as exc:  # e.g. the database: reported like a load failure
            self._fail(f"embedding the stored papers failed ({type(exc).__name__}: {exc})", exc)
            return
        self._set(READY)
        log.info("semantic search ready (%s) after %.1f s; %d stored papers embedded", self.embedder.model,
                 time.monotonic() - self._started, count)

    def _set(self, state: str) -> None:
        with self._lock:
            self._state = state

    def _fail(self, message: str, exc: BaseException) -> None:
        with self._lock:
            self._state, self._error = FAILED, message
        log.error("semantic search is unavailable: %s; the archive serves full-text search only", message,
                  exc_info=exc)

    # -- what clients are told --------------------------------------------------
    def status(self) -> dict:
        with self._lock:
            state, error = self._state, self._error
        out = {"model": self.embedder.model, "state": state, "error": error}
        if state in (LOADING, INDEXING):
            out["waiting_s"] = round(time.monotonic() - self._started, 1)
        return out

    @property
    def ready(self) -> bool:
        with self._lock:
            return self._state == READY

    def why_not(self) -> str | None:
        """Why a semantic search cannot be answered semantically now; None when it can."""
        status = self.status()
        if status["state"] == LOADING:
            return (f"semantic search is not ready yet: the embedding model {status['model']} is still loading "
                    f"({status['waiting_s']:.0f} s since the archive started); {FALLBACK}")
        if status["state"] == INDEXING:
            return (f"semantic search is not ready yet: the embedding model is embedding the papers stored "
                    f"without a vector; {FALLBACK}")
        if status["state"] == FAILED:
            return f"semantic search is unavailable: {status['error']}; {FALLBACK}"
        return None

    # -- uploads and searches ---------------------------------------------------
    def vector_for(self, title: str, abstract: str) -> bytes | None:
        """The upload's vector when the model is loaded; None (embedded later) while it loads."""
        if not self.embedder.ready:
            return None
        return self.embedder.encode_one(embedding_text(title, abstract))

    def catch_up(self) -> None:
        """After an upload stored without a vector: embed it now if the start-up pass is already over.

        Before that, the start-up pass (or, racing its end, the next search) embeds it.
        """
        if self.ready:
            self.backfill()

    def backfill(self) -> int:
        """Embed every paper stored without a vector of this model; returns how many."""
        model = self.embedder.model
        with self._backfill_lock:
            missing = self.store.missing_embeddings(model)
            for start in range(0, len(missing), BATCH):
                batch = missing[start:start + BATCH]
                vectors = self.embedder.encode([text for _, text in batch])
                for (number, _), vector in zip(batch, vectors):
                    self.store.put_embedding(number, model, vector.tobytes())
        return len(missing)

    def nearest(self, query: str, limit: int) -> list[tuple[int, float]]:
        """(paper number, cosine) best first, over every stored paper. Only once `ready`."""
        # Papers that raced the end of the start-up pass: few, so this costs one cheap query as a rule.
        self.backfill()
        ids, matrix = self.store.vectors(self.embedder.model, embed.stack)
        return embed.nearest(self.embedder.encode_one(query), ids, matrix, limit)
