"""Two labs at once against one archive: the second lab reads and cites the first lab's paper.

Each lab runs every real phase in its own process (scripted model and arXiv on
loopback, real sandbox and LaTeX); the archive is a real server. Slow: run
with `pytest -m slow tests/test_labs_archive.py`.
"""

from __future__ import annotations

import re
import threading
import time

import pytest

from labcoat.archive.client import ArchiveClient
from labcoat.archive.service import create_app
from labcoat.config.loading import load_config
from labcoat.run.labs import create_group, run_group
from labcoat.store import open_store

from tests.support.full_lab import FullLab
from tests.support.lab_services import recorded_arxiv
from tests.support.scripted_provider import TEST_KEY, ScriptedProvider
from tests.test_archive_live import LiveServer
from tests.test_quickstart import QUICKSTART, scripted_overrides

pytestmark = pytest.mark.slow


class WaitingLabs:
    """The second lab's literature review waits until the first lab has published."""

    def __init__(self, archive_url: str):
        self.lab = FullLab(prefer_paper="archive:")
        self.archive_url = archive_url
        self.lock = threading.Lock()

    def __call__(self, request):
        if "lab 2 of 2" in request.system and "literature review" in request.system:
            deadline = time.monotonic() + 600
            with ArchiveClient(self.archive_url) as client:
                while client.list()["total"] == 0 and time.monotonic() < deadline:
                    time.sleep(1)
        return self.lab(request)


def test_second_lab_cites_the_first_labs_paper(tmp_path, httpserver, fixtures_dir, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
    monkeypatch.setenv("LABCOAT_CACHE_DIR", str(tmp_path / "cache"))
    recorded_arxiv(fixtures_dir, httpserver)
    with LiveServer(create_app(tmp_path / "archive")) as archive, \
            ScriptedProvider(WaitingLabs(archive.url)) as sp:
        config = load_config(QUICKSTART, overrides=[*scripted_overrides(sp, httpserver), "labs=2",
                                                    f"archive.url={archive.url}", "budget.mle_steps=1",
                                                    "budget.paper_steps=1", "budget.reviewers=1"])
        group = create_group(config, tmp_path / "group")
        outcomes = run_group(group, say=lambda _text: None)
        assert all(state == "finished" for o in outcomes for _, state in o.runs), \
            [(str(d), s) for o in outcomes for d, s in o.runs]
        with ArchiveClient(archive.url) as client:
            published = client.list()["papers"]
    assert len(published) == 2
    second = group.run_dir(1, 0)
    with open_store(second, readonly=True) as store:
        papers = store.artefact("literature_review")["data"]["papers"]
    from_archive = [p for p in papers if p["source"] == "archive"]
    assert from_archive, papers
    key = from_archive[0]["bibtex_key"]
    bib = (second / "report" / "references.bib").read_text()
    tex = (second / "report" / "report.tex").read_text()
    assert key in bib and "labcoat archive" in bib
    assert re.search(r"\\cite[pt]?\{[^}]*" + re.escape(key), tex)
