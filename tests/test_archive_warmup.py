"""The embedding model loads in the background: searches never wait for it, uploads meanwhile are not lost.

The real Embedder and service run over real HTTP; only the model is a stand-in
(`ConceptModel`, injected through the Embedder's `loader`), so a test can hold
its loading open, or make it fail, and still take seconds.
"""

from __future__ import annotations

import logging
import re
import threading

import pytest
from fastapi.testclient import TestClient

from labcoat.archive import embed
from labcoat.archive.client import ArchiveClient
from labcoat.archive.service import create_app
from labcoat.archive.store import ArchiveStore
from tests.support.archive_cli import archive_cli
from tests.support.polling import eventually
from tests.test_archive import TOPICS, body
from tests.test_archive_live import LiveServer, publish_one

np = pytest.importorskip("numpy")

# Words that mean the same thing to the stand-in model; "compress" is in no paper, so only it finds pruning.
CONCEPTS = [{"compress", "pruning", "filters", "shrinks"}, {"warmup", "learning", "rate"},
            {"grokking", "generalisation"}, {"prompting", "maths"}, {"mixup", "tabular"}]
PRUNING = 4  # index of the pruning paper in TOPICS


class ConceptModel:
    """Stands in for MiniLM: each word adds to its concept's dimension; a small constant keeps rows non-zero."""

    def encode(self, texts, **options):
        assert options["normalize_embeddings"] is True
        rows = []
        for text in texts:
            row = np.zeros(len(CONCEPTS) + 1, dtype=np.float32)
            row[-1] = 0.1
            for word in re.findall(r"\w+", text.lower()):
                for i, concept in enumerate(CONCEPTS):
                    row[i] += word in concept
            rows.append(row / np.linalg.norm(row))
        return np.stack(rows)


class GatedLoader:
    """A loader that takes as long as the test wants: it returns once `gate` is set."""

    def __init__(self):
        self.gate = threading.Event()
        self.started = threading.Event()

    def __call__(self, device: str) -> ConceptModel:
        self.started.set()
        if not self.gate.wait(30):
            raise TimeoutError("the test never let the model finish loading")
        return ConceptModel()


def test_searches_while_the_model_loads_answer_from_full_text_and_uploads_are_embedded_after(tmp_path, capsys,
                                                                                              monkeypatch):
    monkeypatch.delenv("LABCOAT_ARCHIVE_TOKEN", raising=False)
    root = tmp_path / "archive"
    loader = GatedLoader()
    embedder = embed.Embedder(loader=loader)
    try:
        with LiveServer(create_app(root, embedder=embedder)) as live, ArchiveClient(live.url, timeout=5) as client:
            assert loader.started.wait(10), "the model did not start loading when the archive started"
            semantic = client.health()["semantic"]
            assert semantic["state"] == "loading" and semantic["error"] is None

            # Uploads while the model loads are stored at once, without a vector yet.
            ids = [publish_one(live.url, i) for i in range(len(TOPICS))]
            store = ArchiveStore(root)
            assert len(store.missing_embeddings(embedder.model)) == len(TOPICS)

            answer = client.search_answer("warmup", 3, mode="semantic")
            assert not loader.gate.is_set(), "a search waited for the model"  # it is still loading
            assert answer["mode"] == "fts" and answer["requested"] == "semantic"
            assert "still loading" in answer["note"] and "full-text (BM25)" in answer["note"]
            assert answer["papers"][0]["id"] == ids[0]
            # As a literature source the fallback is marked on every paper.
            papers = client.search("warmup", 3)
            assert papers[0]["id"] == ids[0]
            assert papers[0]["search_mode"] == "fts" and "still loading" in papers[0]["search_note"]
            # The CLI says so too.
            code, out, err = archive_cli("search", "warmup", "--url", live.url, capsys=capsys)
            assert code == 0, err
            assert ids[0] in out and "note:" in err and "still loading" in err

            loader.gate.set()
            eventually(lambda: client.health()["semantic"]["state"] == "ready", "semantic search to be ready")
            # Every paper uploaded while it loaded was embedded before semantic search opened.
            assert store.missing_embeddings(embedder.model) == []

            answer = client.search_answer("compress", 2)
            assert answer["mode"] == "semantic" and answer["note"] is None
            assert answer["papers"][0]["id"] == ids[PRUNING]
            assert client.search_answer("compress", 2, mode="fts")["papers"] == []
            assert not {"search_mode", "search_note"} & set(client.search("compress", 1)[0])

            # Once loaded, an upload is embedded as it is stored.
            late = publish_one(live.url, PRUNING)
            assert store.missing_embeddings(embedder.model) == []
            found = {p["id"] for p in client.search_answer("compress", 2)["papers"]}
            assert found == {ids[PRUNING], late}
    finally:
        loader.gate.set()  # never leave the loading thread blocked


def test_a_model_that_fails_to_load_is_reported_and_full_text_goes_on(tmp_path, caplog):
    def broken(device: str):
        raise OSError("model files missing under /nowhere")

    app = create_app(tmp_path / "archive", embedder=embed.Embedder(loader=broken))
    with caplog.at_level(logging.ERROR, logger="labcoat.archive"):
        with TestClient(app, base_url="http://127.0.0.1") as tc:
            assert tc.post("/papers", json=body(0)).status_code == 201
            health = eventually(lambda: (h := tc.get("/health").json())["semantic"]["state"] == "failed" and h,
                              "the load failure to be reported")
            assert health["status"] == "ok" and health["papers"] == 1
            assert "model files missing under /nowhere" in health["semantic"]["error"]
            assert tc.get("/").json()["semantic"]["state"] == "failed"
            data = tc.get("/search", params={"q": "warmup", "mode": "semantic"}).json()
            assert data["mode"] == "fts" and data["results"][0]["id"] == "archive:000001"
            assert "unavailable" in data["note"] and "model files missing under /nowhere" in data["note"]
            # Uploads go on (embedded by a later start whose model loads).
            assert tc.post("/papers", json=body(1)).status_code == 201
    logged = [r for r in caplog.records if r.name == "labcoat.archive" and r.levelno == logging.ERROR]
    assert logged and "model files missing under /nowhere" in logged[0].getMessage()


def test_papers_stored_without_embeddings_are_embedded_when_the_model_loads(tmp_path):
    root = tmp_path / "archive"
    with TestClient(create_app(root), base_url="http://127.0.0.1") as tc:
        for i in range(len(TOPICS)):
            assert tc.post("/papers", json=body(i)).status_code == 201
    embedder = embed.Embedder(loader=lambda device: ConceptModel())
    with TestClient(create_app(root, embedder=embedder), base_url="http://127.0.0.1") as tc:
        eventually(lambda: tc.get("/health").json()["semantic"]["state"] == "ready", "semantic search to be ready")
        assert ArchiveStore(root).missing_embeddings(embedder.model) == []
        data = tc.get("/search", params={"q": "compress", "limit": 1}).json()
        assert data["mode"] == "semantic" and data["results"][0]["id"] == f"archive:{PRUNING + 1:06d}"


def test_an_archive_without_embeddings_reports_no_semantic_search(tmp_path):
    with TestClient(create_app(tmp_path / "archive"), base_url="http://127.0.0.1") as tc:
        assert tc.get("/health").json() == {"status": "ok", "papers": 0, "semantic": None}
        assert tc.post("/papers", json=body(0)).status_code == 201
        data = tc.get("/search", params={"q": "warmup"}).json()
        assert data["mode"] == "fts" and data["requested"] == "auto" and data["note"] is None
