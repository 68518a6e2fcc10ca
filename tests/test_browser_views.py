"""The dashboard's readable events, plots and lab-group page, in headless Chromium."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from labcoat.web import create_app
from tests.test_browser_dashboard import CHROMIUM, browser  # noqa: F401  (the fixture)
from tests.test_event_text import JSON_LINE
from tests.test_web_support import PHASES, LiveServer, finished_run

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs the system chromium")
PAGES = ("", "/literature", "/plan", "/data", "/experiments", "/report", "/costs")


def test_no_page_of_a_full_run_shows_an_event_as_json(browser, tmp_path: Path) -> None:  # noqa: F811
    root = tmp_path / "runs"
    finished_run(root, "full", turns=14, nodes=12, every_kind=True)
    with LiveServer(create_app(root)) as server:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        seen: set[str] = set()
        for path in [*PAGES, *(f"/phases/{p}" for p in PHASES)]:
            page.goto(f"{server.url}/runs/full{path}")
            for row in page.locator("li.ev").all():
                text = row.inner_text()
                assert not JSON_LINE.search(text), (path, text)
                seen.add((row.get_attribute("class") or "").split()[1])
        assert {"ev-mle_node", "ev-paper_version", "ev-reviews", "ev-run_end", "ev-published"} <= seen, seen
        # the raw payload stays one click away on a phase's page
        page.goto(f"{server.url}/runs/full/phases/report_writing")
        row = page.locator("li.ev-paper_done")
        assert "paper done PDF report/report.pdf; 1 integrity error; reviewer score 5" in row.inner_text()
        row.locator("details.raw > summary").click()
        assert '"integrity_errors": 1' in row.inner_text()
        assert not errors, errors
        page.close()
