"""Who may use the dashboard, and answering a co-pilot gate from it."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from labcoat.workflow.gates import GateAnswer
from labcoat.workflow.store_gate import StoreGate
from labcoat.store import RunStore, gates
from labcoat.web import create_app
from labcoat.access import is_loopback
from tests.test_web_support import finished_run, new_run, wait_for


@pytest.fixture
def root(tmp_path: Path) -> Path:
    finished_run(tmp_path, "done-run", turns=7, nodes=2, report=False)
    return tmp_path


def test_loopback_addresses() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1") and is_loopback("127.0.0.2")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.10") and not is_loopback("example.org")


def test_token_is_required_off_loopback(root: Path) -> None:
    app = create_app(root, token="s3cret-token")
    c = TestClient(app, base_url="http://192.0.2.10:8765")
    for url in ("/", "/runs/done-run", "/runs/done-run/costs", "/static/htmx.min.js", "/runs/done-run/stream"):
        r = c.get(url)
        assert r.status_code == 401, url
        assert "access token" in r.text
    assert c.get("/", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert c.get("/?token=wrong").status_code == 401
    assert c.post("/runs/done-run/gate", data={"decision": "approve"}).status_code == 401
    ok = c.get("/", headers={"Authorization": "Bearer s3cret-token"})
    assert ok.status_code == 200 and "done-run" in ok.text


def test_token_in_the_url_sets_a_cookie_and_is_dropped_from_the_address(root: Path) -> None:
    c = TestClient(create_app(root, token="s3cret-token"), base_url="http://192.0.2.10:8765")
    r = c.get("/runs/done-run?token=s3cret-token", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/runs/done-run"
    cookie = r.headers["set-cookie"]
    assert "labcoat_token=s3cret-token" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    page = c.get("/runs/done-run")  # the client now sends the cookie
    assert page.status_code == 200 and "Does label smoothing" in page.text
    c.cookies.clear()
    assert c.get("/runs/done-run").status_code == 401


def test_loopback_dashboard_refuses_foreign_host_names(root: Path) -> None:
    app = create_app(root)
    assert TestClient(app, base_url="http://127.0.0.1:8765").get("/").status_code == 200
    assert TestClient(app, base_url="http://localhost:8765").get("/").status_code == 200
    rebound = TestClient(app, base_url="http://attacker.example:8765").get("/")
    assert rebound.status_code == 421


def _waiting_run(root: Path, name: str = "waiting-run") -> tuple[Path, str]:
    store = new_run(root, name)
    key = "plan_formulation#0/gate"
    gates.ask(store.db, key, "plan_formulation", 0, "Plan: compare <b>C</b> values on iris")
    store.set_state("waiting", phase="plan_formulation", message="waiting for approval of plan_formulation",
                    pid=__import__("os").getpid())
    store.close()
    return root / name, key


def _form_token(html: str) -> str:
    match = re.search(r'name="form_token" value="([^"]+)"', html)
    assert match is not None, "the gate form carries its token"
    return match.group(1)


def test_pending_gate_is_shown_and_answered_once(root: Path) -> None:
    run_dir, key = _waiting_run(root)
    c = TestClient(create_app(root), base_url="http://127.0.0.1")
    page = c.get("/runs/waiting-run")
    assert "Co-pilot: plan formulation is done" in page.text
    assert "compare &lt;b&gt;C&lt;/b&gt; values" in page.text  # the summary is agent text: escaped
    assert 'sse-connect="/runs/waiting-run/stream' in page.text
    token = _form_token(page.text)
    form = {"form_token": token, "key": key, "decision": "revise", "notes": "add a majority-class baseline"}

    assert c.post("/runs/waiting-run/gate", data={**form, "form_token": "forged"}).status_code == 403
    assert c.post("/runs/waiting-run/gate", data=form, headers={"Origin": "http://evil.example"}).status_code == 403
    assert c.post("/runs/waiting-run/gate", data={**form, "notes": "  "}).status_code == 422
    assert c.post("/runs/waiting-run/gate", data={**form, "decision": "delete"}).status_code == 422
    assert c.post("/runs/waiting-run/gate", data={**form, "key": "data_preparation#0/gate"}).status_code == 409

    r = c.post("/runs/waiting-run/gate", data=form, headers={"Origin": "http://127.0.0.1"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/runs/waiting-run"
    with RunStore(run_dir, readonly=True) as store:
        row = gates.get(store.db, key)
    assert row is not None and row.answer == {"decision": "revise", "notes": "add a majority-class baseline"}
    assert row.answered_by == "dashboard"
    again = c.post("/runs/waiting-run/gate", data=form)
    assert again.status_code == 409 and "not waiting for an answer" in again.text
    assert "Co-pilot:" not in c.get("/runs/waiting-run").text


def test_htmx_answer_returns_the_refreshed_header(root: Path) -> None:
    _, key = _waiting_run(root)
    c = TestClient(create_app(root), base_url="http://127.0.0.1")
    token = _form_token(c.get("/runs/waiting-run").text)
    r = c.post("/runs/waiting-run/gate", data={"form_token": token, "key": key, "decision": "approve"},
               headers={"HX-Request": "true"})
    assert r.status_code == 200
    assert 'id="run-header"' in r.text and "Answer sent: <strong>approve</strong>" in r.text
    assert "<html" not in r.text


def test_finished_runs_cannot_be_changed(root: Path) -> None:
    c = TestClient(create_app(root), base_url="http://127.0.0.1")
    token = _form_token_from_any(c, root)
    r = c.post("/runs/done-run/gate", data={"form_token": token, "key": "plan_formulation#0/gate",
                                            "decision": "approve"})
    assert r.status_code == 409 and "the run is finished" in r.text
    for method in ("put", "delete", "patch"):
        assert getattr(c, method)("/runs/done-run").status_code == 405
    assert c.post("/runs/done-run").status_code == 405


def _form_token_from_any(c: TestClient, root: Path) -> str:
    _waiting_run(root, "other-waiting")
    return _form_token(c.get("/runs/other-waiting").text)


def test_a_gate_answered_by_post_reaches_a_waiting_store_gate(root: Path) -> None:
    store = new_run(root, "live-run")
    store.close()
    run_dir = root / "live-run"
    gate = StoreGate(run_dir, poll_s=0.02)
    got: dict = {}
    thread = threading.Thread(target=lambda: got.update(answer=gate.ask("data_preparation", 1, "data: iris")),
                              daemon=True)
    thread.start()
    c = TestClient(create_app(root), base_url="http://127.0.0.1")
    page = wait_for(lambda: (lambda t: t if "Co-pilot: data preparation" in t else None)(
        c.get("/runs/live-run").text), timeout=5)
    assert "(revision 1)" in page
    r = c.post("/runs/live-run/gate", data={"form_token": _form_token(page), "key": "data_preparation#1/gate",
                                            "decision": "revise", "notes": "keep a dev split"})
    assert r.status_code in (200, 303)
    thread.join(5)
    assert got == {"answer": GateAnswer("revise", "keep a dev split")}


def test_writes_from_another_origin_are_refused_by_both_servers(tmp_path):
    from fastapi.testclient import TestClient

    from labcoat.archive.service import create_app as archive_app
    from labcoat.web import create_app as dashboard_app
    from tests.test_archive import body

    archive = TestClient(archive_app(tmp_path / "archive"), base_url="http://127.0.0.1:8766")
    paper = body(0, pdf=None)
    for headers in ({"Origin": "http://evil.example"}, {"Origin": "null"},
                    {"Origin": "http://127.0.0.1:9999"}, {"Referer": "http://localhost:8766/x"}):
        resp = archive.post("/papers", json=paper, headers=headers)
        assert resp.status_code == 403 and "cross-origin write refused" in resp.json()["error"], headers
    assert archive.post("/papers", content=json.dumps(paper), headers={"content-type": "text/plain"}).status_code == 415
    assert archive.get("/papers", headers={"Origin": "http://evil.example"}).status_code == 200  # reads stay open
    own = archive.post("/papers", json=paper, headers={"Origin": "http://127.0.0.1:8766"})
    assert own.status_code == 201, own.text
    dash = TestClient(dashboard_app(tmp_path / "runs"), base_url="http://127.0.0.1:8765")
    resp = dash.post("/runs/x/gate", data={"decision": "approve"}, headers={"Origin": "http://evil.example"})
    assert resp.status_code == 403 and "cross-origin" in resp.text
