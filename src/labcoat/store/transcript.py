"""Render transcript events for people (`labcoat show`).

Each event kind may have its own one-line renderer; anything else prints as
its kind and compact JSON payload. Phases with richer views (the mle-solver
journal as a tree) have them in `PHASE_VIEWS`.
"""

from __future__ import annotations

import json
import time
from typing import Any, Callable

from rich.markup import escape

from labcoat.store import RunStore

Renderer = Callable[[dict], str]


def _clip(text: str, n: int = 400) -> str:
    """Shorten and escape text so agent output is never read as rich markup."""
    text = text.replace("\r", "")
    if len(text) > n:
        text = text[:n] + f" … ({len(text) - n} more chars)"
    return escape(text)


def _agent_turn(ev: dict) -> str:
    p = ev["payload"]
    return f"[bold]{escape(str(p.get('role', '?')))}[/] › {_clip(str(p.get('text', '')), 1200)}"


RENDERERS: dict[str, Renderer] = {
    "phase_start": lambda ev: f"[bold cyan]── {escape(str(ev['phase']))} (attempt {ev['payload'].get('attempt', 0)})[/]",
    "phase_end": lambda ev: f"[cyan]── {escape(str(ev['phase']))} done[/]",
    "gate": lambda ev: f"[magenta]co-pilot: {_clip(str(ev['payload'].get('decision')))}[/] "
                      f"{_clip(str(ev['payload'].get('notes', '')))}",
    # Kept apart in the transcript: a co-pilot revision re-runs a phase, a revisit uses a refinement round.
    "copilot_revision": lambda ev: f"[magenta]co-pilot revision {ev['payload'].get('revision')} of "
                                  f"{escape(str(ev['phase']))}: attempt {ev['payload'].get('next_attempt')} next; "
                                  f"uses no refinement round[/]",
    "revisit": lambda ev: f"[bold yellow]revisit → {escape(str(ev['payload'].get('to')))} (refinement round "
                         f"{ev['payload'].get('round')} of {ev['payload'].get('rounds', '?')})[/] "
                         f"{_clip(str(ev['payload'].get('notes', '')), 600)}",
    "refinement_decision": lambda ev: (
        f"[bold]PhD decision: {escape(str(ev['payload'].get('decision')))}"
        + (f" → {escape(str(ev['payload']['phase']))}" if ev["payload"].get("phase") else "")
        + f"[/] (rounds left {ev['payload'].get('rounds_left', '?')}) "
        + _clip(str(ev["payload"].get("reason", "")), 600)),
    "turn_skipped": lambda ev: f"[red]{escape(str(ev['payload'].get('role')))} sent no valid command; turn "
                               f"skipped[/] {_clip(str(ev['payload'].get('error', '')), 400)}",
    "warning": lambda ev: f"[yellow]warning: {_clip(str(ev['payload'].get('message')), 1200)}[/]",
    "agent_turn": _agent_turn,
}

def journal_tree(store: RunStore) -> Any:
    """The mle-solver journal as a tree: each node's operation, status, metric, reward."""
    from rich.tree import Tree

    from labcoat.journal import Journal

    artefact = store.artefact("running_experiments")
    journal = Journal.of(n for n in (artefact or {}).get("data", {}).get("journal", []) if isinstance(n, dict))
    root = Tree("[bold]mle-solver journal[/]" + ("" if journal.nodes else " (no nodes recorded yet)"))
    branches: dict[str, Any] = {}
    for node, _depth in journal.tree():
        parent = branches.get(node.anchor, root) if node.anchor else root
        colour = {"ok": "green", "failed": "red", "refused": "yellow"}.get(node.status, "")
        label = (f"[{colour}]{node.id}[/] {node.operation} {node.status}"
                 + (f"  metric {node.metric:.4g}" if isinstance(node.metric, (int, float)) else "")
                 + (f"  reward {node.reward:.2f}" if isinstance(node.reward, (int, float)) else "")
                 + (f"  — {escape(node.refusal)}" if node.refusal else ""))
        branch = parent.add(label)
        if node.reflection:
            branch.add(f"[dim]{_clip(node.reflection, 200)}[/]")
        branches[node.id] = branch
    return root


PHASE_VIEWS: dict[str, Callable[[RunStore], Any]] = {"running_experiments": journal_tree}


def render_event(ev: dict) -> str:
    stamp = time.strftime("%H:%M:%S", time.localtime(ev["ts"]))
    renderer = RENDERERS.get(ev["kind"])
    if renderer is not None:
        body = renderer(ev)
    else:
        payload = json.dumps(ev["payload"], ensure_ascii=False)
        body = f"{escape(ev['kind'])} {_clip(payload)}"
    return f"[dim]{ev['pos']:>5} {stamp}[/] {body}"


def render_phase_extra(store: RunStore, phase: str | None) -> Any:
    if phase and phase in PHASE_VIEWS:
        return PHASE_VIEWS[phase](store)
    return None
