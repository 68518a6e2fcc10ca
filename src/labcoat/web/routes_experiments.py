"""The mle-solver journal as a tree; a node's metrics, output, figures and diff to its parent."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from labcoat.web import journal_view, routes_plots
from labcoat.web.errors import PageError
from labcoat.web.pages import artefact_data, dash, header

router = APIRouter()


@router.get("/runs/{ref}/experiments", response_class=HTMLResponse)
def experiments(request: Request, ref: str, offset: int = Query(0, ge=0)) -> HTMLResponse:
    d = dash(request)
    with d.store(ref) as store:
        head = header(store, ref)
        nodes, source = journal_view.tree_nodes(store)
        results = artefact_data(store, journal_view.ARTEFACT)
        summary = {k: v for k, v in (results or {}).items() if k not in ("journal", "best_code")}
        page = nodes[offset:offset + journal_view.TREE_PAGE]
        if request.headers.get("hx-request") == "true" and offset:
            return d.render("_tree_page.html", ref=ref, nodes=page, source=source, node_total=len(nodes),
                            offset=offset, page_size=journal_view.TREE_PAGE)
        return d.render("experiments.html", tab="experiments", **head, nodes=page, source=source,
                        node_total=len(nodes), offset=offset, page_size=journal_view.TREE_PAGE,
                        results=summary if results is not None else None,
                        best_code=(results or {}).get("best_code") or "",
                        **routes_plots.context(store, ref, "search", "reward", tree=(nodes, source)))


@router.get("/runs/{ref}/experiments/nodes/{node_id}", response_class=HTMLResponse)
def experiment_node(request: Request, ref: str, node_id: str) -> HTMLResponse:
    d = dash(request)
    fragment = request.headers.get("hx-request") == "true"
    with d.store(ref) as store:
        head = header(store, ref)  # also proves the store holds a run
        view = journal_view.node_view(store, node_id)
        if view is None:
            raise PageError(404, "No such node",
                            f"the journal has no node '{node_id}' (node details appear when the "
                            "experiments phase has ended)")
        if fragment:
            return d.render("_node.html", ref=ref, **view)
        return d.render("node.html", tab="experiments", **head, **view)
