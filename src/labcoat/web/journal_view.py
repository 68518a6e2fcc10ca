"""The mle-solver journal for the dashboard: a tree of nodes, and one node in full.

The journal lives in the `running_experiments` artefact once the phase ends;
while it runs, the `mle_node` events give the tree without code or output.
The tree reads only the fields it draws (SQLite extracts them from the JSON),
so listing 200 nodes does not parse 200 programs; those fields become typed
`labcoat.journal` nodes and the tree is the journal's own view. A node's code,
output and diff to its parent load when the node is opened.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any

from labcoat.journal import Journal, Node
from labcoat.store.runstore import RunStore

ARTEFACT = "running_experiments"
TREE_FIELDS = ("id", "parent", "repair_of", "step", "candidate", "operation", "status", "metric", "reward",
               "refusal", "duration_s")
MAX_DIFF_LINES = 400
TREE_PAGE = 100  # nodes per request; the page loads more on demand, in tree order
MAX_OUTPUT_CHARS = 6000


@dataclass
class TreeNode:
    node: Node
    depth: int
    repairs: int  # the repair chain leading to it

    @property
    def id(self) -> str:
        return self.node.id


def _has_journal(store: RunStore) -> bool:
    row = store.db.execute(
        "SELECT json_type(data, '$.journal') FROM artefacts WHERE name=?", (ARTEFACT,)).fetchone()
    return row is not None and row[0] == "array"


def tree_nodes(store: RunStore) -> tuple[list[TreeNode], str]:
    """Nodes in tree order with their depth, and where they came from ('artefact' or 'events')."""
    if _has_journal(store):
        # one json_extract with many paths parses each node once and returns a small JSON array
        paths = ", ".join(f"'$.{f}'" for f in TREE_FIELDS)
        rows = store.db.execute(
            f"SELECT json_extract(j.value, {paths}) FROM artefacts, json_each(artefacts.data, '$.journal') AS j "
            "WHERE artefacts.name=? AND j.type='object' ORDER BY j.key", (ARTEFACT,))
        flat = [dict(zip(TREE_FIELDS, json.loads(r[0]))) for r in rows]
        source = "artefact"
    else:
        flat = []
        for r in store.db.execute("SELECT payload FROM events WHERE kind='mle_node' ORDER BY pos"):
            try:
                flat.append(json.loads(r[0]))
            except ValueError:
                continue  # an unreadable event row; the rest of the tree still shows
        source = "events"
    journal = Journal.of(n for n in flat if isinstance(n, dict))
    return [TreeNode(n, depth, journal.repair_depth(n.id)) for n, depth in journal.tree()], source


def node(store: RunStore, node_id: str) -> dict | None:
    row = store.db.execute(
        "SELECT j.value FROM artefacts, json_each(artefacts.data, '$.journal') AS j "
        "WHERE artefacts.name=? AND j.type='object' AND json_extract(j.value, '$.id')=?",
        (ARTEFACT, node_id)).fetchone()
    return json.loads(row[0]) if row is not None else None


def code_of(store: RunStore, node_id: str | None) -> str | None:
    if not node_id:
        return None
    row = store.db.execute(
        "SELECT json_extract(j.value, '$.code') FROM artefacts, json_each(artefacts.data, '$.journal') AS j "
        "WHERE artefacts.name=? AND j.type='object' AND json_extract(j.value, '$.id')=?",
        (ARTEFACT, node_id)).fetchone()
    return row[0] if row is not None else None


@dataclass
class DiffLine:
    kind: str  # add, del, hunk, ctx, meta
    text: str


def diff_lines(before: str | None, after: str, before_name: str, after_name: str) -> list[DiffLine]:
    """A unified diff as classed lines (escaped by the template), bounded in length."""
    lines = difflib.unified_diff((before or "").splitlines(), after.splitlines(),
                                 fromfile=before_name, tofile=after_name, lineterm="", n=3)
    out: list[DiffLine] = []
    for i, line in enumerate(lines):
        if i >= MAX_DIFF_LINES:
            out.append(DiffLine("meta", f"… diff cut at {MAX_DIFF_LINES} lines"))
            break
        if line.startswith(("+++", "---")):
            kind = "meta"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "ctx"
        out.append(DiffLine(kind, line))
    return out


def clip(text: Any, limit: int = MAX_OUTPUT_CHARS) -> str:
    text = "" if text is None else str(text)
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n… ({len(text) - limit} more characters)"


def node_view(store: RunStore, node_id: str) -> dict | None:
    """Everything the node panel shows, or None if the journal has no such node."""
    data = node(store, node_id)
    if data is None:
        return None
    typed = Node.from_json(data)
    base_id = typed.anchor
    code = str(typed.code or "")
    diff = diff_lines(code_of(store, base_id), code, f"{base_id or 'empty'}", f"{node_id}") if base_id else []
    metrics = [m for m in typed.metrics or [] if isinstance(m, dict)]
    figures = [f for f in typed.figures or [] if isinstance(f, str)]
    return {"node": typed, "base_id": base_id, "diff": diff, "code": code, "metrics": metrics,
            "figures": figures, "stdout": clip(typed.stdout), "stderr": clip(typed.stderr)}
