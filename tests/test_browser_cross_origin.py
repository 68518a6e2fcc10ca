"""A page on another origin, in headless Chromium, tries to write to the archive and to the dashboard.

Every trick a page has: a form posting text/plain that reads as JSON, `fetch` in no-cors mode, `fetch`
with a JSON content type (which needs a CORS preflight), a urlencoded form carrying even the dashboard's
form token. Judged on the host: the requests reach the servers (counted before the guard), yet the
archive holds no paper and the gate stays unanswered.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.responses import HTMLResponse, PlainTextResponse
from starlette.routing import Route

from labcoat.archive.service import create_app as archive_app
from labcoat.store import RunStore, gates
from labcoat.web import create_app as dashboard_app
from tests.test_archive import body
from tests.test_web_support import LiveServer, wait_for

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = [pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs the system chromium"),
              pytest.mark.timeout(120)]


class Counted:
    """ASGI wrapper counting the POSTs that reach a server, before any of its checks."""

    def __init__(self, app):
        self.app = app
        self.posts = 0

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "POST":
            self.posts += 1
        return await self.app(scope, receive, send)


ATTACK = """<!doctype html><html><body>
<form id="plain" method="post" enctype="text/plain" action="{archive}/papers" target="f1">
<input name='{{"x":"' value='"}}'></form>
<form id="gate" method="post" action="{dashboard}/runs/r1/gate" target="f2">
<input name="form_token" value="{form_token}"><input name="key" value="{gate_key}">
<input name="decision" value="approve"><input name="notes" value="planted"></form>
<iframe name="f1"></iframe><iframe name="f2"></iframe>
<script>
const paper = {paper};
async function attack() {{
  const tries = [
    fetch("{archive}/papers", {{method: "POST", mode: "no-cors", headers: {{"Content-Type": "text/plain"}},
                                body: JSON.stringify(paper)}}),
    fetch("{archive}/papers", {{method: "POST", headers: {{"Content-Type": "application/json"}},
                                body: JSON.stringify(paper)}}),
    fetch("{dashboard}/runs/r1/gate", {{method: "POST", mode: "no-cors",
      headers: {{"Content-Type": "application/x-www-form-urlencoded"}},
      body: "form_token={form_token}&key={gate_key}&decision=approve&notes=planted"}}),
  ];
  for (const t of tries) {{ try {{ await t; }} catch (e) {{}} }}
  document.getElementById("plain").submit();
  document.getElementById("gate").submit();
  await new Promise(r => setTimeout(r, 1500));
  await fetch("/done", {{method: "POST"}});
}}
attack();
</script></body></html>"""


def test_a_page_on_another_origin_cannot_write(tmp_path: Path):
    sync_api = pytest.importorskip("playwright.sync_api")
    archive = Counted(archive_app(tmp_path / "archive"))
    runs = tmp_path / "runs"
    run_dir = runs / "r1"
    with RunStore(run_dir) as store:
        store.create_run("r1", "topic", {"topic": "topic"}, "test")
        gates.ask(store.db, "plan_formulation#0/gate", "plan_formulation", 0, "the plan")
    dash_app = dashboard_app(runs)
    dashboard = Counted(dash_app)
    finished: list[bool] = []

    async def page(request):
        return HTMLResponse(ATTACK.format(archive=servers["archive"].url, dashboard=servers["dashboard"].url,
                                          form_token=dash_app.state.dash.form_token,
                                          gate_key="plan_formulation#0/gate",
                                          paper=json.dumps(body(0, pdf=None))))

    async def done(request):
        finished.append(True)
        return PlainTextResponse("ok")

    evil = Starlette(routes=[Route("/", page), Route("/done", done, methods=["POST"])])
    servers: dict[str, LiveServer] = {}
    with LiveServer(archive) as a, LiveServer(dashboard) as d, LiveServer(evil) as e:
        servers.update(archive=a, dashboard=d)
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                tab = browser.new_page()
                tab.goto(e.url.replace("127.0.0.1", "localhost") + "/")
                wait_for(lambda: bool(finished), timeout=60)
            finally:
                browser.close()
    assert archive.posts >= 2 and dashboard.posts >= 2  # the attempts did reach the servers
    assert not list((tmp_path / "archive").rglob("*.tex"))  # and planted nothing
    from labcoat.archive.store import ArchiveStore

    assert ArchiveStore(tmp_path / "archive").count() == 0
    with RunStore(run_dir, readonly=True) as store:
        row = gates.get(store.db, "plan_formulation#0/gate")
    assert row is not None and row.answer is None
