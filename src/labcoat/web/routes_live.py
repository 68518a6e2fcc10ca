"""Live updates by server-sent events, and the one write: answering a pending co-pilot gate.

The stream polls the run's events table by position (cheap: an indexed range
read) and sends each new event as a rendered row; when the run's state or its
pending gate changes it sends `state`, and the page refreshes its header (and
its spend plots); after a new journal node it sends `plots`, and the page
refetches its search plots. The
stream ends when the client goes away, or after `stream_max_s`, when the
browser reconnects from the last position it saw (Last-Event-ID).
"""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
import time
from urllib.parse import parse_qs

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from labcoat.errors import StoreError
from labcoat.workflow.gates import GateAnswer
from labcoat.store import gates
from labcoat.store.runstore import DB_NAME, RunStore, connect
from labcoat.web import readmodel
from labcoat.web.errors import PageError
from labcoat.web.pages import dash, header

router = APIRouter()
MAX_FORM_BYTES = 64_000
MAX_NOTES = 20_000
BATCH = 50
PLOT_KINDS = ("mle_node", "mle_best", "phase_end")  # events after which the search plots have news


def sse(event: str, data: str, event_id: int | None = None) -> str:
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines += [f"data: {line}" for line in data.splitlines() or [""]]
    return "\n".join(lines) + "\n\n"


def _start_pos(request: Request, after: int | None, store: RunStore) -> int:
    last_seen = request.headers.get("last-event-id", "")
    if last_seen.lstrip("-").isdigit():
        return int(last_seen)
    return after if after is not None else readmodel.last_pos(store)


@router.get("/runs/{ref}/stream")
async def stream(request: Request, ref: str, after: int | None = Query(None, ge=-1),
                 max_events: int | None = Query(None, ge=1, le=100_000)) -> StreamingResponse:
    d = dash(request)
    with d.store(ref) as probe:  # a missing or unreadable run is a 404/422 page, not a broken stream
        probe.info()
        start = _start_pos(request, after, probe)
        # Read the state now, not when the generator first runs: a change that
        # lands between the request and the first poll must still be reported.
        initial_state = readmodel.live_state(probe)
    run_dir = d.run_dir(ref)
    template = d.env.get_template("_event.html")

    async def events():
        d.streams["open"] += 1
        sent = 0
        try:
            store = RunStore(run_dir, readonly=True)
            try:
                pos, state = start, initial_state
                deadline = time.monotonic() + d.stream_max_s
                yield "retry: 2000\n\n"
                while time.monotonic() < deadline and (max_events is None or sent < max_events):
                    if await request.is_disconnected():
                        break
                    room = BATCH if max_events is None else min(BATCH, max_events - sent)
                    batch = readmodel.events_after(store, pos, room)
                    for ev in batch:
                        yield sse("ev", template.render(ev=ev, ref=ref), ev["pos"])
                        pos, sent = ev["pos"], sent + 1
                    if any(ev["kind"] in PLOT_KINDS for ev in batch):
                        yield sse("plots", str(pos))
                    now = readmodel.live_state(store)
                    if now != state:
                        yield sse("state", now[0])
                        sent += 1
                        state = now
                    if len(batch) < room:
                        yield ": idle\n\n"
                        await asyncio.sleep(d.poll_s)
            finally:
                store.close()
        except (StoreError, sqlite3.DatabaseError) as exc:
            yield sse("failure", f"the run store cannot be read: {exc}")
        finally:
            d.streams["open"] -= 1
            d.streams["closed"] += 1

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@router.post("/runs/{ref}/gate")
async def answer_gate(request: Request, ref: str) -> Response:
    d = dash(request)
    run_dir = d.run_dir(ref)
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise PageError(413, "Answer too long", f"the form is limited to {MAX_FORM_BYTES} bytes")
    fields = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
    # The origin was checked by the access guard; the form token proves the dashboard's own page sent it.
    if not secrets.compare_digest(fields.get("form_token", ""), d.form_token):
        raise PageError(403, "Not accepted", "this answer did not come from the dashboard's own page; "
                                             "reload the run page and answer there")
    key, decision, notes = fields.get("key", ""), fields.get("decision", ""), fields.get("notes", "").strip()
    if decision == "revise" and not notes:
        raise PageError(422, "Notes needed", "to ask for a revision, say what should change in the notes")
    if len(notes) > MAX_NOTES:
        raise PageError(422, "Notes too long", f"notes are limited to {MAX_NOTES} characters")
    try:
        answer = GateAnswer.from_json({"decision": decision, "notes": notes})
    except ValueError as exc:
        raise PageError(422, "Invalid answer", str(exc)) from exc
    with d.store(ref) as store:
        if store.info().state in ("finished", "failed"):
            raise PageError(409, "Run is over", f"the run is {store.info().state}; there is nothing to answer")
    try:
        db = connect(run_dir / DB_NAME)
        try:
            accepted = gates.answer(db, key, answer.to_json(), "dashboard")
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise PageError(422, "Unreadable run", f"the answer could not be written to {run_dir / DB_NAME}: {exc}")
    if not accepted:
        raise PageError(409, "Not pending", f"the gate '{key}' is not waiting for an answer: it was answered "
                                            "already (in the terminal or another browser), or the run moved on")
    if request.headers.get("hx-request") == "true":
        with d.store(ref) as store:
            return d.render("_header.html", **header(store, ref), answered=answer)
    return RedirectResponse(f"/runs/{ref}", status_code=303)


@router.get("/runs/{ref}/gate", response_class=HTMLResponse)
def gate_panel(request: Request, ref: str) -> HTMLResponse:
    """The pending gate alone (what the header embeds), for scripts and links."""
    d = dash(request)
    with d.store(ref) as store:
        return d.render("_gate.html", **header(store, ref))
