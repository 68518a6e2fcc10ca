"""Render transcript events for people (`labcoat show`).

Each event is told in the words of `event_text.describe` (the dashboard uses
the same words) and styled for the terminal here. Phases with richer views (the mle-solver
journal as a tree) have them in `PHASE_VIEWS`.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from rich.markup import escape

from labcoat.store import RunStore
from labcoat.store.event_text import describe

STYLES = {"ok": "green", "warn": "yellow", "bad": "red", "phase": "bold cyan", "copilot": "magenta"}


def _clip(text: str, n: int = 400) -> str:
    """Shorten and escape text so agent output is never read as rich markup."""
    text = text.replace("\r", "")
    if len(text) > n:
        text = text[:n] + f" … ({len(text) - n} more chars)"
    return escape(text)


def _line(ev: dict) -> str:
    said = describe(ev)
    if ev["kind"] in ("phase_start", "phase_end"):
        marker = f"── {ev['phase']} {said.head} {said.text}".rstrip()
        return f"[bold cyan]{escape(marker)}[/]"
    style = STYLES.get(said.tone, "bold")
    line = f"[{style}]{escape(said.head)}[/]"
    if said.text:
        line += f" {_clip(said.text, 600)}"
    if said.detail:
        line += f" › {_clip(said.detail, 1200)}"
    if said.code:
        line += f"\n{_clip(said.code, 1200)}"
    return line


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
    return f"[dim]{ev['pos']:>5} {stamp}[/] {_line(ev)}"


def render_phase_extra(store: RunStore, phase: str | None) -> Any:
    if phase and phase in PHASE_VIEWS:
        return PHASE_VIEWS[phase](store)
    return None
