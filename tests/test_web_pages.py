"""Every dashboard page, for finished, failed, in-progress, missing and corrupt runs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from labcoat.store import RunStore
from labcoat.web import create_app
from tests.test_web_support import EventWriter, finished_run, new_run

PAGES = ["", "/header", "/timeline", "/costs", "/literature", "/plan", "/data", "/experiments", "/report", "/gate"]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    finished_run(root, "done-run", turns=14, nodes=12)
    finished_run(root, "failed-run", turns=7, nodes=0, report=False, state="failed")
    store = new_run(root, "fresh-run")  # created, nothing happened yet
    store.close()
    (root / "corrupt-run").mkdir()
    (root / "corrupt-run" / "run.db").write_bytes(b"this is not a database" * 100)
    store = RunStore(root / "empty-run")  # a store with tables but no run row
    store.close()
    return root


@pytest.fixture(scope="module")
def client(root: Path) -> TestClient:
    return TestClient(create_app(root), base_url="http://127.0.0.1")


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_runs_list_shows_each_run_and_the_unreadable_ones(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    page = text_of(r.text)
    assert "Does label smoothing help small tabular classifiers?" in page
    assert "done-run" in page and "failed-run" in page and "fresh-run" in page
    assert "finished" in page and "failed" in page and "created" in page
    assert "gpt-4o-mini, claude-3-5-haiku" in page or "claude-3-5-haiku, gpt-4o-mini" in page
    assert "$0.0" in page  # cost column
    assert "Unreadable runs" in page and "corrupt-run" in page and "empty-run" in page
    assert "content-security-policy" in r.headers


def test_a_run_whose_process_died_shows_as_stopped(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    store = new_run(tmp_path, "orphan")
    store.set_state("running", phase="plan_formulation", pid=dead.pid)
    store.close()
    c = TestClient(create_app(tmp_path), base_url="http://127.0.0.1")
    assert "stopped" in text_of(c.get("/").text)
    assert "stopped (its process is gone)" in text_of(c.get("/runs/orphan").text)


def test_no_runs_folder_is_explained(tmp_path: Path) -> None:
    r = TestClient(create_app(tmp_path / "nowhere"), base_url="http://127.0.0.1").get("/")
    assert r.status_code == 200 and "does not exist yet" in r.text


@pytest.mark.parametrize("run", ["done-run", "failed-run", "fresh-run"])
@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_for_finished_failed_and_fresh_runs(client: TestClient, run: str, page: str) -> None:
    r = client.get(f"/runs/{run}{page}")
    assert r.status_code == 200, r.text[:500]
    assert "Traceback" not in r.text


@pytest.mark.parametrize("page", PAGES + ["/phases/plan_formulation", "/experiments/nodes/s0c0",
                                          "/report/pages/1.png", "/files/report.pdf", "/stream"])
def test_corrupt_and_missing_runs_get_a_clear_page(client: TestClient, page: str) -> None:
    for run, status, words in (("corrupt-run", 422, "cannot be read"), ("empty-run", 422, "holds no run"),
                               ("gone-run", 404, "there is no run")):
        r = client.get(f"/runs/{run}{page}")
        if run != "gone-run" and page.startswith(("/files", "/report/pages")):
            assert r.status_code == 404  # files are looked up on disk, not in the store
            continue
        assert r.status_code == status, (run, page, r.status_code)
        assert words in text_of(r.text)


def test_overview_timeline_costs_and_escaped_dialogue(client: TestClient) -> None:
    r = client.get("/runs/done-run")
    page = text_of(r.text)
    for phase in ("literature review", "plan formulation", "running experiments", "report refinement"):
        assert phase in page
    # each phase had two LLM calls of $0.0021: the timeline carries the ledger's cost per phase attempt
    assert page.count("$0.0042") == 7
    assert page.count("2,900") == 7  # tokens per phase: 2 calls x (1200 input + 250 output)
    assert "<script>alert" not in r.text and "&lt;script&gt;alert(" in r.text
    assert 'sse-connect' not in r.text  # a finished run has nothing live to stream


def test_phase_dialogue_pages_through_events(client: TestClient) -> None:
    r = client.get("/runs/done-run/phases/plan_formulation?limit=2")
    assert r.status_code == 200
    first = re.findall(r'id="ev-(\d+)"', r.text)
    assert len(first) == 2
    nxt = re.search(r'href="(/runs/done-run/phases/plan_formulation\?after=\d+&amp;limit=2)"', r.text)
    assert nxt is not None
    second = re.findall(r'id="ev-(\d+)"', client.get(nxt.group(1).replace("&amp;", "&")).text)
    assert second and int(second[0]) > int(first[-1])
    assert "plan_formulation step 0" in r.text and "&lt;script&gt;" in r.text
    assert client.get("/runs/done-run/phases/Plan-Formulation").status_code == 200
    missing = client.get("/runs/done-run/phases/no_such_phase")
    assert missing.status_code == 404 and "phases so far" in missing.text


def test_literature_plan_and_data(client: TestClient) -> None:
    lit = client.get("/runs/done-run/literature").text
    assert 'href="https://arxiv.org/abs/1906.02629"' in lit
    assert "javascript:" not in lit  # a non-http URL is shown as text, never as a link
    assert "@article{muller2019," in lit and "&lt;i&gt;networks&lt;/i&gt;" in lit
    plan = text_of(client.get("/runs/done-run/plan").text)
    assert "Does label smoothing improve dev accuracy" in plan and "select on dev, test once" in plan
    data = text_of(client.get("/runs/done-run/data").text)
    assert "sklearn iris" in data and "train: 105" in data and "load_iris" in data
    assert "No plan yet" in text_of(client.get("/runs/fresh-run/plan").text)


def test_journal_tree_and_node_diff(client: TestClient) -> None:
    r = client.get("/runs/done-run/experiments")
    ids = re.findall(r'<details id="node-([^"]+)"', r.text)
    assert len(ids) == 12 and ids[0] == "s0c0"
    # depth-first: the seed, its child s0c1, that one's child s1c1, and s1c1's child s3c1
    assert ids[:5] == ["s0c0", "s0c1", "s1c1", "s3c1", "s4c0"]
    assert r.text.count("margin-left: 2.4em") == 4  # the seed's grandchildren
    assert "0.9556" in r.text and "0.9333" in r.text  # dev and test metrics of the results
    node = client.get("/runs/done-run/experiments/nodes/s1c1", headers={"HX-Request": "true"})
    assert node.status_code == 200 and not node.text.lstrip().startswith("<!doctype")
    assert 'class="d-del">-model = LogisticRegression(C=1.1' in node.text
    assert 'class="d-add">+model = LogisticRegression(C=1.3' in node.text
    assert "&lt;b&gt;not html&lt;/b&gt;" in node.text  # the reflection, escaped
    failed = client.get("/runs/done-run/experiments/nodes/s2c0").text
    assert "has no attribute" in failed and "fitt" in failed
    seed = client.get("/runs/done-run/experiments/nodes/s0c0").text
    assert "/runs/done-run/files/figures/confusion.png" in seed and "no parent to diff against" in seed
    assert client.get("/runs/done-run/experiments/nodes/nope").status_code == 404


def test_journal_tree_from_live_events_while_the_phase_runs(tmp_path: Path) -> None:
    store = new_run(tmp_path, "live")
    ev = EventWriter(store)
    ev.emit("running_experiments", "phase_start", {"attempt": 0})
    ev.emit("running_experiments", "mle_node", {"id": "s0c0", "parent": None, "operation": "seed",
                                                "status": "ok", "metric": 0.9, "refusal": ""})
    ev.emit("running_experiments", "mle_node", {"id": "s1c0", "parent": "s0c0", "operation": "edit",
                                                "status": "failed", "metric": None, "refusal": ""})
    store.set_state("running", phase="running_experiments", pid=os.getpid())
    store.close()
    c = TestClient(create_app(tmp_path), base_url="http://127.0.0.1")
    page = c.get("/runs/live/experiments").text
    assert "s0c0" in page and "s1c0" in page and "from the live events" in page
    assert "margin-left: 1.2em" in page  # s1c0 sits under s0c0


def test_report_pdf_reviews_and_integrity(client: TestClient) -> None:
    r = client.get("/runs/done-run/report")
    page = text_of(r.text)
    assert '<iframe class="pdf" src="/runs/done-run/files/report.pdf"' in r.text
    assert "2 pages" in page and 'src="/runs/done-run/report/pages/2.png"' in r.text
    assert "reviewer 1" in page and "soundness" in page and "no variance across seeds" in page
    assert "clarity" in page and "average overall" in page
    assert "97.1" in page and "abstract" in page  # the integrity finding
    png = client.get("/runs/done-run/report/pages/1.png")
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert client.get("/runs/done-run/report/pages/3.png").status_code == 404
    pdf = client.get("/runs/done-run/files/report.pdf")
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert "No report PDF yet" in text_of(client.get("/runs/failed-run/report").text)


def test_broken_report_files_are_reported_not_fatal(tmp_path: Path) -> None:
    run_dir = finished_run(tmp_path, "broken", turns=7, nodes=0)
    (run_dir / "reviews.json").write_text("{not json")
    (run_dir / "report.pdf").write_bytes(b"%PDF-1.4 truncated")
    (run_dir / "integrity.json").write_text('["a bare finding"]')
    r = TestClient(create_app(tmp_path), base_url="http://127.0.0.1").get("/runs/broken/report")
    assert r.status_code == 200
    page = text_of(r.text)
    assert "reviews.json cannot be read" in page and "not a readable PDF" in page and "a bare finding" in page


def test_costs_by_phase_role_and_model_against_the_budget(client: TestClient) -> None:
    page = text_of(client.get("/runs/done-run/costs").text)
    assert "By phase" in page and "By role" in page and "By model" in page
    assert "of a budget of $5.00" in page
    assert "$0.0294" in page  # 14 calls x $0.0021
    assert "0.6% of the budget" in page
    assert "phd" in page and "postdoc" in page and "gpt-4o-mini" in page
    # 300 of every 1,200 input tokens were read from the provider's cache; the Anthropic calls wrote 100 each
    assert "cache writes" in page and "(25%)" in page and "700" in page
    assert "No LLM calls recorded" in text_of(client.get("/runs/fresh-run/costs").text)


def test_costs_of_a_store_older_than_cache_writes(tmp_path: Path) -> None:
    """The dashboard reads stores unmigrated: a ledger without the cache-write column shows 0 writes."""
    from labcoat.store.runstore import RunStore
    from labcoat.web.readmodel import costs

    with RunStore(tmp_path / "old") as store:
        store.put_ledger("p#0/x/llm/0", phase="p", role="phd", model="openai:gpt-4o", input_tokens=2000,
                         cached_tokens=1024, dollars=0.01)
        store.db.execute("ALTER TABLE ledger DROP COLUMN cache_write_tokens")
    with RunStore(tmp_path / "old", readonly=True) as store:
        table = costs(store, None)
    assert table.by_phase == [{"name": "p", "dollars": 0.01, "input": 2000, "cached": 1024, "cache_write": 0,
                               "output": 0, "calls": 1, "latency": 0.0}]


def test_files_route_stays_inside_the_run_directory(client: TestClient, root: Path) -> None:
    outside = root / "secret.txt"
    outside.write_text("not yours")
    (root / "done-run" / "escape").symlink_to(outside)
    (root / "done-run" / "page.html").write_text("<script>alert(1)</script>")
    for rel in ("../secret.txt", "..%2fsecret.txt", "%2e%2e/secret.txt", "escape", "figures/../../secret.txt",
                "/etc/passwd", "run.db", "run.db-wal", "%00"):
        r = client.get(f"/runs/done-run/files/{rel}")
        assert r.status_code == 404, rel
        assert "not yours" not in r.text
    html = client.get("/runs/done-run/files/page.html")
    assert html.status_code == 200
    assert html.headers["content-type"] == "application/octet-stream"
    assert "sandbox" in html.headers["content-security-policy"]
    assert client.get("/runs/..%2f..%2fetc/files/passwd").status_code == 404


def test_sse_stream_sends_events_with_positions(client: TestClient) -> None:
    with client.stream("GET", "/runs/done-run/stream?after=-1&max_events=3") as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        body = "".join(r.iter_text())
    assert body.startswith("retry: 2000")
    assert re.findall(r"^id: (\d+)$", body, flags=re.M) == ["0", "1", "2"]
    assert body.count("event: ev") == 3 and 'id="ev-2"' in body
    # a reconnecting browser sends Last-Event-ID and continues after it
    with client.stream("GET", "/runs/done-run/stream?after=-1&max_events=2",
                       headers={"Last-Event-ID": "10"}) as r:
        again = "".join(r.iter_text())
    assert re.findall(r"^id: (\d+)$", again, flags=re.M) == ["11", "12"]


def test_a_long_journal_loads_in_bounded_pieces(tmp_path: Path) -> None:
    finished_run(tmp_path, "long", turns=7, nodes=130, report=False)
    c = TestClient(create_app(tmp_path), base_url="http://127.0.0.1")
    first = c.get("/runs/long/experiments").text
    assert len(re.findall(r'<details id="node-', first)) == 100
    assert "130 nodes" in text_of(first) and "show the next 30 of 30 more nodes" in first
    rest = c.get("/runs/long/experiments?offset=100", headers={"HX-Request": "true"})
    assert rest.status_code == 200 and "<html" not in rest.text
    ids = re.findall(r'<details id="node-([^"]+)"', rest.text)
    assert len(ids) == 30 and "more nodes" not in rest.text
    assert not set(ids) & set(re.findall(r'<details id="node-([^"]+)"', first))


def test_report_page_reads_what_the_review_and_integrity_code_write(tmp_path: Path) -> None:
    import json

    from labcoat.review.aggregate import reviews_document
    from labcoat.review.form import ReviewForm
    from labcoat.review.integrity import Finding, IntegrityReport

    run_dir = finished_run(tmp_path, "real-shapes", turns=7, nodes=0, report=False)
    form = dict(summary="A small <b>study</b>.", strengths=["clear"], weaknesses=["one dataset"], originality=2,
                quality=3, clarity=3, significance=2, soundness=3, presentation=3, contribution=2,
                questions=["why iris?"], limitations="few", ethics="none", overall=5, confidence=3,
                decision="reject")
    doc = reviews_document([("reviewer A", ReviewForm(**form)), ("reviewer B", ReviewForm(**{**form, "overall": 7,
                                                                                          "decision": "accept"}))])
    (run_dir / "reviews.json").write_text(json.dumps(doc))
    report = IntegrityReport(findings=[Finding(kind="unsupported_number", severity="error",
                                               message="97.1 appears in no recorded output", fix="use 95.56",
                                               line=12, text="accuracy of 97.1%")])
    (run_dir / "integrity.json").write_text(json.dumps(report.to_dict()))
    r = TestClient(create_app(tmp_path), base_url="http://127.0.0.1").get("/runs/real-shapes/report")
    assert r.status_code == 200
    page = text_of(r.text)
    assert "reviewer A" in page and "reviewer B" in page and "why iris?" in page
    assert "overall mean : 6" in page  # the aggregate's headline
    assert re.search(r"overall 6 1 5 7", page)  # mean, spread, low, high of the overall score
    assert "&lt;b&gt;study&lt;/b&gt;" in r.text
    assert "unsupported_number" in page and "97.1 appears in no recorded output" in page and "use 95.56" in page


def test_odd_store_contents_render_instead_of_failing(tmp_path: Path) -> None:
    store = new_run(tmp_path, "odd")
    store.db.execute("UPDATE runs SET config_json=?", ('{"topic": "t", "budget": 5, "models": ["x"]}',))
    store.put_event(0, "plan_formulation", "phase_start", ["not", "a", "dict"])  # type: ignore[arg-type]
    store.db.execute("INSERT INTO events (pos, ts, phase, kind, payload) VALUES (1, 0, 'plan_formulation', "
                     "'agent_turn', '{broken')")
    store.put_artefact("plan_formulation", "Plan", ["a list, not a plan"])
    store.put_artefact("running_experiments", "Results", {"journal": [{"id": "a", "parent": "b"},
                                                                     {"id": "b", "parent": "a"}, "junk"]})
    store.close()
    c = TestClient(create_app(tmp_path), base_url="http://127.0.0.1")
    for page in PAGES + ["/phases/plan_formulation", "/experiments/nodes/a"]:
        r = c.get(f"/runs/odd{page}")
        assert r.status_code == 200, (page, r.text[:300])
    assert c.get("/").status_code == 200
    assert "unreadable payload" in c.get("/runs/odd/phases/plan_formulation").text


def test_refinement_decisions_copilot_revisions_and_revisits_read_as_sentences(tmp_path: Path) -> None:
    store = new_run(tmp_path, "refined")
    ev = EventWriter(store)
    phase = "report_refinement"
    ev.emit(phase, "phase_start", {"attempt": 0, "notes": []})
    ev.emit(phase, "refinement_decision", {"decision": "accept", "phase": "", "reason": "the paper is sound",
                                           "round": 0, "rounds_left": 1, "copilot_revisions": 0})
    ev.emit(phase, "gate", {"decision": "revise", "notes": "check the test split"})
    ev.emit(phase, "copilot_revision", {"revision": 1, "next_attempt": 1, "refinement_rounds_used": 0})
    ev.emit(phase, "phase_start", {"attempt": 1, "notes": ["check the test split"]})
    ev.emit(phase, "refinement_decision", {"decision": "revisit", "phase": "report_writing", "round": 0,
                                           "rounds_left": 1, "copilot_revisions": 1,
                                           "reason": "the <b>results</b> section overstates the gain"})
    ev.emit(phase, "revisit", {"to": "report_writing", "notes": "Automated reviews: weak baselines", "round": 1,
                               "rounds": 1})
    store.close()
    c = TestClient(create_app(tmp_path), base_url="http://127.0.0.1")
    for url in ("/runs/refined", f"/runs/refined/phases/{phase}"):
        html = c.get(url).text
        page = text_of(html)
        assert "PhD decision: accept (refinement rounds used 0, left 1) the paper is sound" in page, url
        assert ("co-pilot revision 1 of report refinement: attempt 1 next; uses no refinement round "
                "(0 used so far)") in page, url
        assert ("PhD decision: back to report writing (refinement rounds used 0, left 1; co-pilot revisions 1) "
                "the &lt;b&gt;results&lt;/b&gt; section overstates the gain") in page, url
        assert "revisit → report writing (refinement round 1 of 1) Automated reviews: weak baselines" in page, url
        # none of them falls back to the generic kind-and-JSON form any more
        assert not re.search(r'class="kind">(copilot_revision|refinement_decision|revisit)<', html), url
