"""What every run page shows around its content: the header, the tabs, a pending gate."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import Request

from labcoat.store.runstore import RunStore
from labcoat.web import readmodel

if TYPE_CHECKING:  # the app includes the routes that use these helpers: a runtime import would be a cycle
    from labcoat.web.app import Dashboard

TABS = (
    ("overview", "", "Overview"),
    ("literature", "/literature", "Literature"),
    ("plan", "/plan", "Plan"),
    ("data", "/data", "Data"),
    ("experiments", "/experiments", "Experiments"),
    ("report", "/report", "Report"),
    ("costs", "/costs", "Costs"),
)

STATE_TEXT = {
    "created": "created, not started",
    "running": "running",
    "waiting": "waiting for co-pilot approval",
    "paused": "paused",
    "failed": "failed",
    "finished": "finished",
    "stopped": "stopped (its process is gone)",
}


def dash(request: Request) -> Dashboard:
    return request.app.state.dash


def header(store: RunStore, ref: str) -> dict[str, Any]:
    info = store.info()
    config = _config(store)
    return {
        "ref": ref, "run": info, "state": info.shown_state,
        "state_text": STATE_TEXT.get(info.shown_state, info.shown_state),
        "dollars": store.dollars_spent(), "budget": readmodel.budget_of(config),
        "gate": readmodel.pending_gate(store), "phases": readmodel.phases_seen(store),
        "tabs": TABS, "last_pos": readmodel.last_pos(store),
    }


def _config(store: RunStore) -> dict:
    try:
        config = store.config()
    except ValueError:
        return {}
    return config if isinstance(config, dict) else {}


def config_of(store: RunStore) -> dict:
    return _config(store)


def artefact_data(store: RunStore, name: str) -> dict | None:
    """An artefact's data if it is a JSON object, else None (absent or not yet produced)."""
    art = store.artefact(name)
    if art is None or not isinstance(art.get("data"), dict):
        return None
    return art["data"]
