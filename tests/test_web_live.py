"""Server-sent events over a real socket: new events arrive live, the stream ends when the client leaves."""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx

from labcoat.web import create_app
from tests.test_web_support import EventWriter, LiveServer, new_run, wait_for


def test_stream_follows_a_run_and_ends_when_the_client_disconnects(tmp_path: Path) -> None:
    store = new_run(tmp_path, "running")
    store.set_state("running", phase="plan_formulation", pid=os.getpid())
    writer = EventWriter(store)
    writer.emit("plan_formulation", "phase_start", {"attempt": 0, "notes": []})
    app = create_app(tmp_path, poll_s=0.05, stream_max_s=20)  # a missed event fails fast, not at the suite timeout
    dash = app.state.dash
    lines: list[str] = []
    with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        with client.stream("GET", "/runs/running/stream") as r:  # from the current end: only new events
            assert r.status_code == 200
            wait_for(lambda: dash.streams["open"] == 1, timeout=5)
            writer.emit("plan_formulation", "agent_turn", {"step": 0, "role": "postdoc", "command": "dialogue",
                                                           "text": "Let us <em>compare</em> C values"})
            store.set_state("waiting", phase="plan_formulation", message="waiting for approval")
            for line in r.iter_lines():
                lines.append(line)
                if line == "event: state":
                    break
        # the client has gone: the server-side generator stops within a poll or two
        wait_for(lambda: dash.streams["open"] == 0 and dash.streams["closed"] == 1, timeout=5)
    store.close()
    text = "\n".join(lines)
    assert "id: 1" in text and "id: 0" not in text
    assert "&lt;em&gt;compare&lt;/em&gt;" in text and "<em>" not in text
    assert re.search(r"event: state\n?", text)


def test_run_page_subscribes_only_while_the_run_can_change(tmp_path: Path) -> None:
    store = new_run(tmp_path, "live")
    store.set_state("running", phase="literature_review", pid=os.getpid())
    store.close()
    with LiveServer(create_app(tmp_path)) as server:
        page = httpx.get(f"{server.url}/runs/live", timeout=10).text
        assert 'hx-ext="sse" sse-connect="/runs/live/stream?after=-1"' in page
        assert 'hx-trigger="sse:state"' in page and 'sse-swap="ev"' in page
        js = httpx.get(f"{server.url}/static/htmx.min.js", timeout=10)
        assert js.status_code == 200 and js.text.startswith("/*! htmx 2.0.11")
