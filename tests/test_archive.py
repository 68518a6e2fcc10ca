"""Archive service through its HTTP API (TestClient): upload, fetch, search, full text, refusals, access."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from labcoat.archive import embed
from labcoat.archive.service import create_app
from labcoat.archive.store import ArchiveStore
from labcoat.archive.validate import Limits

TOPICS = [
    ("Learning rate warmup stabilises small transformers",
     "We measure how linear warmup of the learning rate affects early training of small transformers.",
     "Warmup", "Without warmup the loss spikes in the first hundred steps; with warmup it does not."),
    ("Grokking in modular arithmetic",
     "Delayed generalisation on modular addition appears after long training with weight decay.",
     "Grokking", "Test accuracy jumps from chance to perfect long after the training loss reaches zero."),
    ("Chain-of-thought prompting for grade-school maths",
     "Prompting with worked solutions raises accuracy on grade-school maths word problems.",
     "Prompting", "Accuracy on word problems rises when the model writes intermediate steps."),
    ("Data augmentation with mixup for tabular data",
     "Mixup interpolates pairs of rows and their labels to regularise tabular classifiers.",
     "Mixup", "Interpolated rows reduce overfitting of gradient-boosted baselines on small tables."),
    ("Pruning convolutional networks by filter norm",
     "Removing filters with the smallest L1 norm shrinks a CNN with little loss of accuracy.",
     "Pruning", "Half of the filters can go with a drop of under one point; a sparsity schedule helps."),
]


def make_tex(title: str, abstract: str, section: str, body: str) -> bytes:
    return (
        "\\documentclass{article}\n\\usepackage{amsmath}\n"
        f"\\title{{{title}}}\n\\begin{{document}}\n\\maketitle\n"
        f"\\begin{{abstract}}\n{abstract}\n\\end{{abstract}}\n"
        f"\\section{{Introduction}}\nWe study {title.lower()}.\n"
        f"\\section{{{section}}}\n{body}\n"
        "\\section{Conclusion}\nThe results hold on every seed we tried.\n"
        "\\end{document}\n"
    ).encode("utf-8")


def make_pdf(text: str = "report") -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.add_metadata({"/Title": text})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def metadata(i: int = 0, **over) -> dict:
    title, abstract, topic, _ = TOPICS[i % len(TOPICS)]
    meta = {"title": title, "abstract": abstract, "topic": topic.lower(), "metrics": {"accuracy": 0.5 + i / 100},
            "run_id": f"run-{i}", "lab": f"lab-{i % 2}"}
    meta.update(over)
    return meta


def body(i: int = 0, *, meta: dict | None = None, pdf: bytes | None = b"", tex: bytes | None = None,
         bib: bytes | None = b"@misc{x, title={X}}\n") -> dict:
    title, abstract, section, text = TOPICS[i % len(TOPICS)]
    files = {"tex": tex if tex is not None else make_tex(title, abstract, section, text)}
    if pdf is not None:
        files["pdf"] = pdf or make_pdf(title)
    if bib is not None:
        files["bib"] = bib
    return {"metadata": meta if meta is not None else metadata(i),
            "files": {k: base64.b64encode(v).decode() for k, v in files.items()}}


@pytest.fixture
def archive_dir(tmp_path: Path) -> Path:
    return tmp_path / "archive"


@pytest.fixture
def client(archive_dir: Path) -> TestClient:
    with TestClient(create_app(archive_dir), base_url="http://127.0.0.1") as tc:
        yield tc


def upload(tc: TestClient, payload: dict) -> dict:
    resp = tc.post("/papers", json=payload)
    assert resp.status_code == 201, resp.text
    return resp.json()


def test_upload_then_fetch_returns_the_metadata_and_the_same_files(client, archive_dir):
    pdf = make_pdf("warmup")
    payload = body(0, pdf=pdf)
    pid = upload(client, payload)["id"]
    assert pid == "archive:000001"

    record = client.get(f"/papers/{pid}").json()
    assert record["title"] == TOPICS[0][0]
    assert record["lab"] == "lab-0" and record["run_id"] == "run-0"
    assert record["metrics"] == {"accuracy": 0.5}
    assert record["sections"] == ["Abstract", "Introduction", "Warmup", "Conclusion"]
    assert set(record["files"]) == {"pdf", "tex", "bib"}

    got = client.get(f"/papers/{pid}/files/pdf")
    assert got.status_code == 200 and got.headers["content-type"] == "application/pdf"
    assert got.content == pdf
    assert client.get("/papers/000001/files/tex").content == base64.b64decode(payload["files"]["tex"])
    # On disk: one folder per paper, nothing left in staging.
    assert sorted(p.name for p in (archive_dir / "papers" / "000001").iterdir()) == [
        "metadata.json", "paper.bib", "paper.pdf", "paper.tex"]
    assert json.loads((archive_dir / "papers" / "000001" / "metadata.json").read_text())["lab"] == "lab-0"
    assert list((archive_dir / "staging").iterdir()) == []


def test_ids_count_up_and_list_is_newest_first(client):
    ids = [upload(client, body(i))["id"] for i in range(3)]
    assert ids == ["archive:000001", "archive:000002", "archive:000003"]
    listed = client.get("/papers", params={"limit": 2}).json()
    assert listed["total"] == 3
    assert [p["id"] for p in listed["papers"]] == ["archive:000003", "archive:000002"]
    assert client.get("/").json()["papers"] == 3


@pytest.mark.parametrize("query, expected", [
    ("learning rate warmup", 0),             # title and abstract words
    ("delayed generalisation modular", 1),
    ("interpolated rows overfitting", 3),    # words only in a section body
    ("filter sparsity schedule", 4),
])
def test_search_ranks_the_matching_paper_first(client, query, expected):
    ids = [upload(client, body(i))["id"] for i in range(len(TOPICS))]
    data = client.get("/search", params={"q": query, "limit": 3}).json()
    assert data["mode"] == "fts"
    results = data["results"]
    assert results and results[0]["id"] == ids[expected]
    assert results[0]["score"] >= max(r["score"] for r in results)
    assert "**" in results[0]["snippet"]  # matched words are marked


def test_search_with_fts_syntax_in_the_query_is_plain_words(client):
    upload(client, body(1))
    for q in ['grokking AND "', "NEAR(x y) *", "title:grokking", "-weight"]:
        resp = client.get("/search", params={"q": q})
        assert resp.status_code == 200, (q, resp.text)
    assert client.get("/search", params={"q": "!!! ???"}).json()["results"] == []


def test_full_text_gives_sections_from_the_tex(client):
    pid = upload(client, body(2))["id"]
    whole = client.get(f"/papers/{pid}/text").json()
    assert whole["sections"] == ["Abstract", "Introduction", "Prompting", "Conclusion"]
    assert whole["section"] is None and "intermediate steps" in whole["text"]
    part = client.get(f"/papers/{pid}/text", params={"section": "prompting"}).json()
    assert part["section"] == "Prompting"
    assert part["text"].strip() == TOPICS[2][3]
    missing = client.get(f"/papers/{pid}/text", params={"section": "Appendix Z"})
    assert missing.status_code == 404
    assert "Introduction" in missing.json()["error"] and missing.json()["field"] == "section"


@pytest.mark.parametrize("field", ["title", "abstract", "topic", "metrics", "run_id", "lab"])
def test_missing_metadata_field_is_refused_by_name(client, archive_dir, field):
    meta = metadata(0)
    del meta[field]
    resp = client.post("/papers", json=body(0, meta=meta))
    assert resp.status_code == 422
    assert resp.json()["field"] == f"metadata.{field}"
    assert "missing" in resp.json()["error"]
    assert ArchiveStore(archive_dir).count() == 0


@pytest.mark.parametrize("meta_over, field", [
    ({"title": ""}, "metadata.title"),
    ({"lab": 7}, "metadata.lab"),
    ({"metrics": [1, 2]}, "metadata.metrics"),
    ({"title": "x" * 501}, "metadata.title"),
])
def test_bad_metadata_values_are_refused_by_name(client, meta_over, field):
    resp = client.post("/papers", json=body(0, meta=metadata(0, **meta_over)))
    assert resp.status_code == 422 and resp.json()["field"] == field


def test_a_file_that_is_not_a_pdf_is_refused(client, archive_dir):
    resp = client.post("/papers", json=body(0, pdf=b"<html>not a pdf</html>"))
    assert resp.status_code == 415
    assert resp.json()["field"] == "files.pdf" and "not a PDF" in resp.json()["error"]
    truncated = make_pdf()[:-200]
    resp = client.post("/papers", json=body(0, pdf=truncated))
    assert resp.status_code == 422 and "truncated" in resp.json()["error"]
    assert ArchiveStore(archive_dir).count() == 0


@pytest.mark.parametrize("tex, message", [
    (None, "missing"),
    (b"just words, no LaTeX\n", "no \\documentclass"),
    (b"\\documentclass{article}\x00\\begin{document}", "binary"),
])
def test_bad_tex_is_refused(client, tex, message):
    payload = body(0)
    if tex is None:
        del payload["files"]["tex"]
    else:
        payload["files"]["tex"] = base64.b64encode(tex).decode()
    resp = client.post("/papers", json=payload)
    assert resp.status_code in (415, 422)
    assert resp.json()["field"] == "files.tex" and message in resp.json()["error"]


def test_malformed_bodies_are_refused(client):
    assert client.post("/papers", content=b"{not json", headers={"content-type": "application/json"}).status_code == 400
    assert client.post("/papers", content=b"{not json").status_code == 415  # JSON content type required
    deep = client.post("/papers", content=b'{"metadata": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
                       headers={"content-type": "application/json"})
    assert deep.status_code == 400 and "deeper than 64 levels" in deep.json()["error"]
    assert client.post("/papers", json=[1, 2]).status_code == 400
    payload = body(0)
    payload["files"]["pdf"] = "%%% not base64 %%%"
    resp = client.post("/papers", json=payload)
    assert resp.status_code == 422 and resp.json()["field"] == "files.pdf"
    payload = body(0)
    payload["files"]["docx"] = payload["files"]["pdf"]
    assert client.post("/papers", json=payload).json()["field"] == "files.docx"


def test_size_caps_are_enforced_per_file_and_for_the_body(archive_dir):
    limits = Limits(pdf_bytes=2000, tex_bytes=3000, bib_bytes=1000, metadata_bytes=4000)
    with TestClient(create_app(archive_dir, limits=limits), base_url="http://127.0.0.1") as tc:
        big_pdf = make_pdf() + b"%" + b"x" * 3000 + b"\n%%EOF\n"
        resp = tc.post("/papers", json=body(0, pdf=big_pdf))
        assert resp.status_code == 413 and resp.json()["field"] == "files.pdf"
        assert "cap of 2000 bytes" in resp.json()["error"]
        resp = tc.post("/papers", json=body(0, pdf=None, bib=b"@misc{x," + b"y" * 1500 + b"}"))
        assert resp.status_code == 413 and resp.json()["field"] == "files.bib"
        resp = tc.post("/papers", json=body(0, meta=metadata(0, notes="n" * 5000)))
        assert resp.status_code == 413 and resp.json()["field"] == "metadata"
        huge = b"{" + b" " * (limits.body_bytes + 10) + b"}"
        resp = tc.post("/papers", content=huge, headers={"content-type": "application/json"})
        assert resp.status_code == 413 and resp.json()["field"] == "body"
        # Within the caps the same archive accepts a paper without a PDF.
        ok = tc.post("/papers", json=body(0, pdf=None))
        assert ok.status_code == 201, ok.text
        assert set(ok.json()["paper"]["files"]) == {"tex", "bib"}
        assert tc.get(f"/papers/{ok.json()['id']}/files/pdf").status_code == 404


def test_unknown_and_malformed_ids(client):
    assert client.get("/papers/archive:000042").status_code == 404
    assert client.get("/papers/archive:000042/text").status_code == 404
    resp = client.get("/papers/../etc/passwd")
    assert resp.status_code == 404
    resp = client.get("/papers/not-an-id")
    assert resp.status_code == 400 and "archive:000123" in resp.json()["error"]
    upload(client, body(0))
    assert client.get("/papers/1/files/exe").status_code == 404


def test_semantic_search_without_embeddings_is_a_clear_400(client):
    upload(client, body(0))
    resp = client.get("/search", params={"q": "warmup", "mode": "semantic"})
    assert resp.status_code == 400
    assert resp.json()["field"] == "mode" and "mode=fts" in resp.json()["error"]


def test_papers_survive_a_restart_and_a_crash_leftover(archive_dir):
    with TestClient(create_app(archive_dir), base_url="http://127.0.0.1") as tc:
        upload(tc, body(0))
    # A folder left by a crash between rename and commit holds a paper that was never recorded.
    leftover = archive_dir / "papers" / "000002"
    leftover.mkdir()
    (leftover / "paper.tex").write_text("stale")
    with TestClient(create_app(archive_dir), base_url="http://127.0.0.1") as tc:
        assert tc.get("/papers").json()["total"] == 1
        pid = upload(tc, body(1))["id"]
        assert pid == "archive:000002"
        assert b"Grokking" in tc.get(f"/papers/{pid}/files/tex").content
        assert tc.get("/search", params={"q": "warmup"}).json()["results"][0]["id"] == "archive:000001"


def test_off_loopback_every_request_needs_the_token(archive_dir):
    # The app as `labcoat archive serve --host 0.0.0.0` builds it.
    app = create_app(archive_dir, token="s3cret-token")
    with TestClient(app, base_url="http://10.1.2.3:8766") as tc:
        for method, path in (("get", "/"), ("get", "/papers"), ("get", "/search?q=x"), ("post", "/papers")):
            resp = getattr(tc, method)(path)
            assert resp.status_code == 401, path
            assert "access token" in resp.json()["error"]
            assert resp.headers["www-authenticate"].startswith("Bearer")
        wrong = tc.get("/papers", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and "wrong" in wrong.json()["error"]
        assert tc.get("/papers", params={"token": "nope"}).status_code == 401
        good = {"Authorization": "Bearer s3cret-token"}
        assert tc.post("/papers", json=body(0), headers=good).status_code == 201
        assert tc.get("/papers", headers=good).json()["total"] == 1
        assert tc.get("/papers", params={"token": "s3cret-token"}).json()["total"] == 1
        assert "s3cret" not in tc.get("/").text


def test_on_loopback_other_host_names_are_refused(client):
    assert client.get("/").status_code == 200
    resp = client.get("/", headers={"host": "attacker.example:8766"})
    assert resp.status_code == 421
    assert client.get("/", headers={"host": "localhost:8766"}).status_code == 200


def test_nearest_ranks_stored_vectors_by_cosine():
    np = pytest.importorskip("numpy")

    def unit(v):
        v = np.asarray(v, dtype=np.float32)
        return (v / np.linalg.norm(v)).astype(np.float32)

    first = embed.stack([unit([1, 0, 0]).tobytes(), unit([0, 1, 0]).tobytes()], None)
    matrix = embed.stack([unit([1, 1, 0]).tobytes()], first)
    hits = embed.nearest(unit([0.9, 0.1, 0]).tobytes(), [4, 7, 9], matrix, 2)
    assert [h[0] for h in hits] == [4, 9]
    assert hits[0][1] > hits[1][1] > 0.6
    assert embed.nearest(unit([1, 0, 0]).tobytes(), [], None, 3) == []


def test_embeddings_setting_is_checked():
    assert embed.choose("off") is None
    with pytest.raises(ValueError, match="auto, on, off"):
        embed.choose("maybe")
