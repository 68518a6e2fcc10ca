"""The dashboard's readable events, plots and lab-group page, in headless Chromium."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from labcoat.web import create_app
from tests.test_browser_dashboard import CHROMIUM, browser  # noqa: F401  (the fixture)
from tests.test_event_text import JSON_LINE
from tests.test_web_support import (PHASES, EventWriter, LiveServer, emit_search, finished_run, journal, lab_group,
                                    new_run)

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


def test_plots_carry_the_runs_points(browser, tmp_path: Path) -> None:  # noqa: F811
    root = tmp_path / "runs"
    finished_run(root, "full", turns=14, nodes=12, every_kind=True)
    nodes = journal(12)
    ok = [n for n in nodes if n["status"] == "ok"]
    with LiveServer(create_app(root)) as server:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(f"{server.url}/runs/full/experiments")
        assert page.locator("#plot-search svg .pt").count() == len(nodes)
        assert page.locator("#plot-search svg .pt.failed").count() == len(nodes) - len(ok)
        assert page.locator("#plot-reward svg circle.pt").count() == len(ok)
        assert page.locator("#plot-search path.line.best").get_attribute("data-points") == str(len(ok))
        page.locator("#plot-search a").nth(1).click()  # a node's mark opens the node
        page.wait_for_url("**/experiments/nodes/*")
        assert "diff" in page.inner_text("body").lower()
        page.goto(f"{server.url}/runs/full/costs")
        assert page.locator("#plot-spend path.line.total").get_attribute("data-points") == "14"
        assert page.locator("#plot-tokens path.line").count() == len(PHASES)
        page.close()


def test_a_live_run_adds_points_as_nodes_arrive(browser, tmp_path: Path) -> None:  # noqa: F811
    root = tmp_path / "runs"
    store = new_run(root, "live")
    store.set_state("running", phase="running_experiments", pid=os.getpid())
    writer = EventWriter(store)
    writer.emit("running_experiments", "phase_start", {"attempt": 0, "notes": []})
    nodes = journal(9)
    emit_search(writer, nodes[:2])
    with LiveServer(create_app(root, poll_s=0.1)) as server:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{server.url}/runs/live/experiments")
        assert page.locator("#plot-search svg .pt").count() == 2
        for done, upto in ((2, 5), (5, 9)):  # more of the search lands while the page is open
            emit_search(writer, nodes[done:upto])
            page.wait_for_function(f"() => document.querySelectorAll('#plot-search svg .pt').length === {upto}",
                                   timeout=20_000)
        store.put_ledger("running_experiments#0/mle/s1c0/reward", phase="running_experiments", role="reviewer",
                         model="gpt-4o-mini", input_tokens=900, output_tokens=50, dollars=0.01)
        page.goto(f"{server.url}/runs/live/costs")
        assert page.locator("#plot-spend path.line.total").get_attribute("data-points") == "1"
        store.put_ledger("running_experiments#0/mle/s2c0/reward", phase="running_experiments", role="reviewer",
                         model="gpt-4o-mini", input_tokens=950, output_tokens=50, dollars=0.01)
        page.wait_for_function("() => document.querySelector('#plot-spend path.line.total')"
                               "?.getAttribute('data-points') === '2'", timeout=20_000)
        assert not errors, errors
        page.close()
    store.close()


def test_the_group_page_lists_both_labs(browser, tmp_path: Path) -> None:  # noqa: F811
    root = tmp_path / "runs"
    lab_group(root, "smoothing", labs=2)
    with LiveServer(create_app(root)) as server:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(f"{server.url}/")
        page.click("ul.groups >> text=smoothing")
        page.wait_for_selector("table.labs")
        rows = page.locator("table.labs tr.lab-run")
        assert rows.count() == 2
        assert "lab 1" in rows.nth(0).inner_text() and "lab 2" in rows.nth(1).inner_text()
        assert "cited in its report" in page.inner_text("table.papers")
        page.click("table.labs >> text=smoothing-lab1-p0")
        page.wait_for_selector("table.timeline")
        assert page.url.endswith("/runs/smoothing-lab1-p0")
        page.close()
