"""The dashboard in headless Chromium: inspect a finished run, then steer a run paused at a co-pilot gate."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from labcoat.config.schema import ResearchConfig
from labcoat.workflow.store_gate import StoreGate
from labcoat.run.runner import create_run, execute
from labcoat.store import open_store
from labcoat.web import create_app
from labcoat.workflow import Phase, Workflow
from tests.test_web_support import LiveServer, finished_run

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs the system chromium")


@pytest.fixture
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


def test_inspect_a_finished_run(browser, tmp_path: Path) -> None:
    root = tmp_path / "runs"
    finished_run(root, "done-run", turns=14, nodes=8)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with LiveServer(create_app(root)) as server:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{server.url}/")
        page.click("text=done-run")
        page.wait_for_selector("table.timeline")
        assert "report refinement" in page.inner_text("table.timeline")
        page.screenshot(path=str(shots / "run.png"), full_page=True)

        page.click("nav.tabs >> text=Experiments")
        page.click("#node-s1c1 > summary")  # opening the node loads its panel
        added = page.locator("#node-s1c1 .diff .d-add").first
        added.wait_for(timeout=10_000)
        assert "C=1.3" in added.inner_text()
        assert "C=1.1" in page.locator("#node-s1c1 .diff .d-del").first.inner_text()
        assert "not html" in page.locator("#node-s1c1 .reflection").inner_text()
        page.screenshot(path=str(shots / "journal.png"), full_page=True)

        page.click("nav.tabs >> text=Report")
        page.locator("#pdf-page-1").scroll_into_view_if_needed()
        page.wait_for_function("() => { const i = document.querySelector('#pdf-page-1');"
                               " return i && i.complete && i.naturalWidth > 500; }", timeout=15_000)
        assert page.locator("iframe.pdf").get_attribute("src") == "/runs/done-run/files/report.pdf"
        assert "reviewer 1" in page.inner_text("body")
        page.locator("#pdf-page-1").screenshot(path=str(shots / "report-page-1.png"))
        assert not errors, errors
        page.close()
    assert (shots / "journal.png").stat().st_size > 10_000


def _copilot_workflow(seen: list[list[str]]):
    def plan(ctx):
        notes = ctx.phase_notes()
        seen.append(notes)
        ctx.emit("agent_turn", {"step": 0, "role": "postdoc", "command": "plan",
                                "text": f"plan attempt {ctx.attempt}; notes: {'; '.join(notes) or 'none'}"})
        return {"question": "does C matter?", "notes_seen": notes}

    def factory(config: ResearchConfig) -> Workflow:
        return Workflow([Phase("plan_formulation", plan, lambda art: f"Plan: {art['question']}")])

    return factory


def test_steer_a_run_paused_at_a_copilot_gate(browser, tmp_path: Path) -> None:
    root = tmp_path / "runs"
    config = ResearchConfig(topic="Does C matter for logistic regression?", phases=["plan_formulation"],
                            copilot={"enabled": True})
    run_dir = create_run(config, run_dir=root / "copilot-run")
    seen: list[list[str]] = []
    said: list[str] = []
    gate = StoreGate(run_dir, notify=said.append, poll_s=0.05, timeout_s=60)
    runner = threading.Thread(target=execute, args=(run_dir, _copilot_workflow(seen)), kwargs={"gate": gate},
                              daemon=True)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with LiveServer(create_app(root, poll_s=0.1)) as server:
        runner.start()
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{server.url}/runs/copilot-run")
        page.wait_for_selector("#gate", timeout=15_000)
        assert "Plan: does C matter?" in page.inner_text("#gate")
        page.fill("#gate-notes", "add a majority-class baseline")
        page.screenshot(path=str(shots / "gate.png"), full_page=True)
        with page.expect_response(lambda r: r.url.endswith("/runs/copilot-run/gate")) as sent:
            page.click("#gate-revise")
        assert sent.value.status == 200 and "Answer sent" in sent.value.text()

        # the run continues: attempt 1 runs with the note, then asks again; the page follows by SSE
        page.wait_for_selector("text=(revision 1)", timeout=15_000)
        page.wait_for_selector("text=notes: add a majority-class baseline", timeout=15_000)
        page.click("#gate-approve")
        page.wait_for_function("() => document.querySelector('#run-state')?.textContent.includes('finished')",
                               timeout=15_000)
        # the timeline follows too: both attempts, the first one sent back with the note
        page.wait_for_function("() => document.querySelectorAll('#timeline tbody tr').length === 2",
                               timeout=15_000)
        assert "revise: add a majority-class baseline" in page.inner_text("#timeline")
        page.screenshot(path=str(shots / "continued.png"), full_page=True)
        assert not errors, errors
        page.close()  # ends its event stream before the server stops
    runner.join(15)
    assert not runner.is_alive()
    assert seen == [[], ["add a majority-class baseline"]]
    with open_store(run_dir, readonly=True) as store:
        assert store.info().state == "finished"
        decisions = [e["payload"] for e in store.events(kinds=["gate"])]
        assert decisions == [{"decision": "revise", "notes": "add a majority-class baseline"},
                             {"decision": "approve", "notes": ""}]
        assert store.effect_count("human") == 2  # both answers are recorded effects: resume never asks again
