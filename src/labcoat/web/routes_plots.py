"""A plot alone (what a page embeds), refetched when the run's event stream says it changed."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from labcoat.store.runstore import RunStore
from labcoat.web import plots, readmodel
from labcoat.web.errors import PageError
from labcoat.web.pages import config_of, dash

router = APIRouter()

# which stream event refreshes a plot: spend moves with the header's state, the search with new nodes
TRIGGERS = {"spend": "sse:state", "tokens": "sse:state", "search": "sse:plots", "reward": "sse:plots"}


def build(store: RunStore, ref: str, name: str, tree: plots.Tree | None = None) -> plots.Plot:
    if name == "spend":
        return plots.spend(store, readmodel.budget_of(config_of(store)))
    if name == "tokens":
        return plots.tokens_per_call(store)
    if name == "search":
        return plots.search(store, ref, tree)
    if name == "reward":
        return plots.reward_vs_metric(store, ref, tree)
    raise PageError(404, "No such plot", f"there is no plot '{name}'; the plots are {', '.join(TRIGGERS)}")


def context(store: RunStore, ref: str, *names: str, tree: plots.Tree | None = None) -> dict:
    """The plots a page shows, as template variables `plot_<name>` (`tree`: the journal, if read already)."""
    return {f"plot_{name}": build(store, ref, name, tree) for name in names}


@router.get("/runs/{ref}/plots/{name}", response_class=HTMLResponse)
def plot(request: Request, ref: str, name: str) -> HTMLResponse:
    d = dash(request)
    with d.store(ref) as store:
        store.info()
        return d.render("_plot.html", ref=ref, plot=build(store, ref, name), trigger=TRIGGERS.get(name, ""))
