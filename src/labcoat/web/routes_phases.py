"""A phase's dialogue (paged), and the artefacts of the early phases: literature, plan, data."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from labcoat.config.names import normalise_phase
from labcoat.web import readmodel
from labcoat.web.errors import PageError
from labcoat.web.pages import artefact_data, dash, header

router = APIRouter()


@router.get("/runs/{ref}/phases/{phase}", response_class=HTMLResponse)
def phase_dialogue(request: Request, ref: str, phase: str,
                   after: int = Query(-1, ge=-1, description="show events after this position"),
                   limit: int = Query(readmodel.EVENT_PAGE, ge=1, le=500)) -> HTMLResponse:
    d = dash(request)
    name = normalise_phase(phase)
    with d.store(ref) as store:
        head = header(store, ref)
        total = readmodel.event_count(store, name)
        if total == 0 and name not in head["phases"]:
            raise PageError(404, "No such phase in this run",
                            f"the run has no events for phase '{phase}' (yet); phases so far: "
                            f"{', '.join(head['phases']) or 'none'}")
        events = readmodel.events_after(store, after, limit + 1, phase=name)
        more = len(events) > limit
        events = events[:limit]
        return d.render("phase.html", tab=f"phase:{name}", **head, phase=name, events=events, total=total,
                        after=after, limit=limit, next_after=events[-1]["pos"] if more and events else None)


@router.get("/runs/{ref}/literature", response_class=HTMLResponse)
def literature(request: Request, ref: str) -> HTMLResponse:
    d = dash(request)
    with d.store(ref) as store:
        head = header(store, ref)
        data = artefact_data(store, "literature_review")
        papers = [p for p in (data or {}).get("papers") or [] if isinstance(p, dict)]
        return d.render("literature.html", tab="literature", **head, review=data, papers=papers)


@router.get("/runs/{ref}/plan", response_class=HTMLResponse)
def plan(request: Request, ref: str) -> HTMLResponse:
    d = dash(request)
    with d.store(ref) as store:
        head = header(store, ref)
        return d.render("plan.html", tab="plan", **head, plan=artefact_data(store, "plan_formulation"),
                        interpretation=artefact_data(store, "results_interpretation"))


@router.get("/runs/{ref}/data", response_class=HTMLResponse)
def data(request: Request, ref: str) -> HTMLResponse:
    d = dash(request)
    with d.store(ref) as store:
        head = header(store, ref)
        return d.render("data.html", tab="data", **head, data=artefact_data(store, "data_preparation"))
