"""The archive over real HTTP: uvicorn on a free loopback port, ArchiveClient, concurrent uploads, the CLI."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import uvicorn

from labcoat.archive.client import ArchiveClient, ArchiveError
from labcoat.archive.service import create_app
from labcoat.tools import bibtex
from tests.support.archive_cli import archive_cli
from tests.test_archive import TOPICS, make_pdf, make_tex, metadata

LABCOAT = [sys.executable, "-c", "from labcoat.cli import main; main()"]
PAPER_KEYS = {"id", "version", "title", "authors", "abstract", "published", "updated", "categories",
              "primary_category", "comment", "journal_ref", "doi", "url", "pdf_url", "source", "bibtex_note"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """uvicorn serving an archive app in a thread of this process."""

    def __init__(self, app):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "LiveServer":
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("archive server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def publish_one(url: str, i: int, *, token: str | None = None) -> str:
    title, abstract, section, text = TOPICS[i % len(TOPICS)]
    title = f"{title} (variant {i})"
    with ArchiveClient(url, token=token, timeout=60) as client:
        return client.upload(metadata(i, title=title, run_id=f"run-{i:02d}"),
                             tex=make_tex(title, abstract, section, text), pdf=make_pdf(title))


@pytest.fixture
def live(tmp_path: Path):
    with LiveServer(create_app(tmp_path / "archive")) as server:
        yield server


def test_twenty_concurrent_uploads_are_all_stored(live, tmp_path):
    with ThreadPoolExecutor(max_workers=20) as pool:
        ids = list(pool.map(lambda i: publish_one(live.url, i), range(20)))
    assert len(set(ids)) == 20
    assert sorted(ids) == [f"archive:{n:06d}" for n in range(1, 21)]
    with ArchiveClient(live.url) as client:
        listed = client.list(limit=50)
        assert listed["total"] == 20
        by_run = {p["run_id"]: p for p in listed["papers"]}
        assert sorted(by_run) == [f"run-{i:02d}" for i in range(20)]
        for i in range(20):
            record = by_run[f"run-{i:02d}"]
            assert record["title"].endswith(f"(variant {i})")
            assert client.file(record["id"], "pdf").startswith(b"%PDF-")
            assert f"(variant {i})".lower() in client.file(record["id"], "tex").decode().lower()
    folders = sorted(p.name for p in (tmp_path / "archive" / "papers").iterdir())
    assert folders == [f"{n:06d}" for n in range(1, 21)]
    assert list((tmp_path / "archive" / "staging").iterdir()) == []


def test_two_servers_over_one_folder_share_ids_without_loss(tmp_path):
    root = tmp_path / "archive"
    with LiveServer(create_app(root)) as one, LiveServer(create_app(root)) as two:
        urls = [one.url, two.url] * 6
        with ThreadPoolExecutor(max_workers=12) as pool:
            ids = list(pool.map(lambda pair: publish_one(pair[1], pair[0]), enumerate(urls)))
        assert len(set(ids)) == 12
        with ArchiveClient(one.url) as a, ArchiveClient(two.url) as b:
            assert a.list()["total"] == b.list()["total"] == 12


def test_client_is_a_literature_source(live):
    ids = [publish_one(live.url, i) for i in range(len(TOPICS))]
    with ArchiveClient(live.url) as client:
        found = client.search("grokking modular arithmetic weight decay", 3)
        assert found[0]["id"] == ids[1]
        paper = found[0]
        assert PAPER_KEYS <= set(paper)
        assert paper["source"] == "archive" and paper["authors"] == ["lab-1"]
        assert paper["url"] == f"{live.url}/papers/000002"
        assert paper["pdf_url"] == f"{live.url}/papers/000002/files/pdf"
        assert paper["bibtex_note"] == f"labcoat archive {live.url}/papers/000002"
        assert paper["metrics"] == {"accuracy": 0.51}
        assert httpx.get(paper["pdf_url"]).content.startswith(b"%PDF-")
        entry = bibtex.entry(paper)
        assert paper["url"] in entry and "eprint" not in entry

        assert client.metadata(ids[1]) == {k: v for k, v in paper.items() if k not in ("score", "snippet")}
        text = client.full_text(ids[1], "Grokking")
        assert set(text) >= {"paper_id", "sections", "section", "text"}
        assert text["paper_id"] == ids[1] and text["section"] == "Grokking"
        assert "chance to perfect" in text["text"]
        assert client.full_text(ids[1])["sections"] == ["Abstract", "Introduction", "Grokking", "Conclusion"]
        assert len(client.search("accuracy", 2)) == 2


def test_publish_reads_the_report_files(live, tmp_path):
    title, abstract, section, text = TOPICS[4]
    (tmp_path / "report.tex").write_bytes(make_tex(title, abstract, section, text))
    (tmp_path / "report.pdf").write_bytes(make_pdf(title))
    (tmp_path / "references.bib").write_text("@misc{a, title={A}}\n")
    with ArchiveClient(live.url) as client:
        pid = client.publish(tmp_path / "report.pdf", tmp_path / "report.tex", tmp_path / "references.bib",
                             metadata(4))
        assert client.fetch(pid)["files"]["bib"]["bytes"] == len("@misc{a, title={A}}\n")
        assert client.file(pid, "pdf") == (tmp_path / "report.pdf").read_bytes()
        with pytest.raises(ArchiveError) as err:
            client.publish(None, tmp_path / "missing.tex", None, metadata(4))
        assert err.value.kind == "bad_input" and "missing.tex" in str(err.value)


def test_client_errors_say_what_and_where(live):
    with ArchiveClient(live.url) as client:
        with pytest.raises(ArchiveError) as err:
            client.metadata("archive:000099")
        assert err.value.kind == "not_found" and err.value.status == 404
        assert f"{live.url}/papers/archive:000099" in str(err.value)
        meta = metadata(0)
        del meta["run_id"]
        with pytest.raises(ArchiveError) as err:
            client.upload(meta, tex=make_tex(*TOPICS[0]))
        assert err.value.kind == "bad_input" and "metadata.run_id" in str(err.value)
        with pytest.raises(ArchiveError) as err:
            client.search("x", mode="vectors")
        assert err.value.status == 422 and "mode" in str(err.value)
    dead = f"http://127.0.0.1:{free_port()}"
    with ArchiveClient(dead, timeout=5) as client:
        with pytest.raises(ArchiveError) as err:
            client.search("anything", 5)
        assert err.value.kind == "unreachable" and dead in str(err.value)
    with pytest.raises(ArchiveError):
        ArchiveClient("127.0.0.1:8766")


def test_client_token_from_argument_or_environment(tmp_path, monkeypatch):
    with LiveServer(create_app(tmp_path / "archive", token="tok-123")) as server:
        monkeypatch.delenv("LABCOAT_ARCHIVE_TOKEN", raising=False)
        with ArchiveClient(server.url) as client:
            with pytest.raises(ArchiveError) as err:
                client.list()
            assert err.value.status == 401 and "LABCOAT_ARCHIVE_TOKEN" in str(err.value)
            assert "tok-123" not in str(err.value)
        assert publish_one(server.url, 0, token="tok-123") == "archive:000001"
        monkeypatch.setenv("LABCOAT_ARCHIVE_TOKEN", "tok-123")
        with ArchiveClient(server.url) as client:
            assert client.list()["total"] == 1


def test_cli_serve_list_and_search(tmp_path, monkeypatch, capsys):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "LABCOAT_ARCHIVE_URL": url}
    env.pop("LABCOAT_ARCHIVE_TOKEN", None)
    server = subprocess.Popen([*LABCOAT, "archive", "serve", "--dir",
                               str(tmp_path / "arch"), "--port", str(port), "--embeddings", "off"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.stderr.read()
            assert time.monotonic() < deadline, "labcoat archive serve did not come up"
            time.sleep(0.1)
        for i in range(3):
            publish_one(url, i)
        monkeypatch.setenv("LABCOAT_ARCHIVE_URL", url)

        def run(*args: str) -> tuple[int, str, str]:
            return archive_cli(*args, capsys=capsys)

        code, out, err = run("list")
        assert code == 0, err
        assert "3 papers" in out and "archive:000003" in out
        code, out, err = run("search", "chain of thought word problems", "--limit", "1")
        assert code == 0, err
        assert "archive:000003" in out and "Chain-of-thought" in out
        code, out, err = run("search", "x", "--url", f"http://127.0.0.1:{free_port()}")
        assert code == 1 and "unreachable" in err
    finally:
        server.send_signal(signal.SIGINT)
        try:
            out, _ = server.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            out, _ = server.communicate()
    assert f"labcoat archive of {(tmp_path / 'arch').resolve()} at {url}" in out
