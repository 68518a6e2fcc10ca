"""The runs list, a run's overview (timeline, latest activity), its header fragment, its costs."""

from __future__ import annotations

import sqlite3

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from labcoat.errors import LabcoatError, StoreError
from labcoat.store.runstore import RunStore, iter_run_dirs
from labcoat.web import group_view, readmodel, routes_plots
from labcoat.web.errors import PageError
from labcoat.web.pages import config_of, dash, header

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def runs_list(request: Request) -> HTMLResponse:
    d = dash(request)
    rows, broken = [], []
    for run_dir in iter_run_dirs(d.runs_root):
        try:
            with RunStore(run_dir, readonly=True) as store:
                rows.append(readmodel.run_row(store))
        except (StoreError, sqlite3.DatabaseError) as exc:
            broken.append((run_dir.name, str(exc)))
    rows.sort(key=lambda r: r.info.created_at, reverse=True)
    return d.render("runs.html", rows=rows, broken=broken, root=d.runs_root.resolve(),
                    root_exists=d.runs_root.is_dir(), groups=group_view.group_dirs(d.runs_root))


@router.get("/runs/{ref}", response_class=HTMLResponse)
def run_overview(request: Request, ref: str) -> HTMLResponse:
    d = dash(request)
    try:
        with d.store(ref) as store:
            head = header(store, ref)
            return d.render("run.html", tab="overview", **head, timeline=readmodel.timeline(store),
                            events=readmodel.latest_events(store), event_total=readmodel.event_count(store),
                            lifecycle=store.lifecycle()[-8:], artefacts=readmodel.artefact_names(store),
                            **routes_plots.context(store, ref, "spend"))
    except PageError as missing:
        # no run has this name: it may be a lab group's folder
        group = group_view.find_group(d.runs_root, ref) if missing.title == "No such run" else None
        if group is None:
            raise
    try:
        view = group_view.group_view(group)
    except LabcoatError as exc:
        raise PageError(422, "Unreadable lab group", str(exc)) from exc
    return d.render("group.html", view=view, ref=ref)


@router.get("/runs/{ref}/header", response_class=HTMLResponse)
def run_header(request: Request, ref: str) -> HTMLResponse:
    d = dash(request)
    with d.store(ref) as store:
        return d.render("_header.html", **header(store, ref))


@router.get("/runs/{ref}/timeline", response_class=HTMLResponse)
def run_timeline(request: Request, ref: str) -> HTMLResponse:
    d = dash(request)
    with d.store(ref) as store:
        store.info()
        return d.render("_timeline.html", ref=ref, timeline=readmodel.timeline(store))


@router.get("/runs/{ref}/costs", response_class=HTMLResponse)
def run_costs(request: Request, ref: str) -> HTMLResponse:
    d = dash(request)
    with d.store(ref) as store:
        head = header(store, ref)
        table = readmodel.costs(store, readmodel.budget_of(config_of(store)))
        return d.render("costs.html", tab="costs", **head, costs=table, timeline=readmodel.timeline(store),
                        **routes_plots.context(store, ref, "spend", "tokens"))
