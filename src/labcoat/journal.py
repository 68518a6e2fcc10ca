"""The mle-solver's journal: every program it tried, as typed nodes, and the views callers read.

Each `Node` is one program the solver ran or tried to run — seed, generate,
edit, replace or repair — with where it came from (`parent`: the program it
was derived from; `repair_of`: the failed attempt it repairs), its code, what
running it printed and wrote, how it scored and what the engineer learned.
The `running_experiments` artefact stores the nodes as a list (`Results.journal`)
and the chosen node's id (`Results.best`); the solver's pool and ranking, the
integrity check, the dashboard's tree and `labcoat show` all read the views
here (`best`, `by_step`, `tree`, `good`, `failed`, `children`, `repair_depth`)
rather than raw dicts. Stores written before `best` existed still read: the
best node is then the one the reported metrics name.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Iterable, Literal

Operation = Literal["seed", "generate", "edit", "replace", "repair"]
Status = Literal["ok", "failed", "refused"]


@dataclass
class Node:
    # ---- code and origin
    id: str
    step: int | None = None              # None only in a tree drawn from events, which carry no step
    candidate: int = 0
    operation: Operation = "edit"
    code: str = ""
    parent: str | None = None            # the program this one was derived from
    repair_of: str | None = None         # the failed attempt this one repairs

    # ---- execution
    status: Status = "failed"
    exit_code: int | None = None
    killed_by: str | None = None
    stdout: str = ""
    stderr: str = ""
    duration_s: float = 0.0
    figures: list[str] = field(default_factory=list)

    # ---- evaluation
    metrics: list[dict[str, Any]] = field(default_factory=list)
    metrics_errors: list[str] = field(default_factory=list)  # entries of metrics.json that were left out, and why
    metric: float | None = None          # the plan's primary dev metric, when reported
    reward: float | None = None          # the reward model's 0-1 score
    reward_rationale: str = ""
    refusal: str = ""                    # why a guard refused it
    reflection: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def kind(self) -> str:
        return self.operation

    @property
    def anchor(self) -> str | None:
        """Where the node hangs in the tree: under the attempt it repairs, else under its parent."""
        return self.repair_of or self.parent

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Node":
        """A node from its JSON, also a partial one (the dashboard's tree reads a few fields)."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known and v is not None or k in ("parent", "repair_of")}
        values["id"] = str(data.get("id"))
        return cls(**values)


@dataclass
class Journal:
    nodes: list[Node] = field(default_factory=list)
    best_id: str | None = None

    @classmethod
    def of(cls, nodes: Iterable[Node | dict[str, Any]], best_id: str | None = None) -> "Journal":
        return cls([n if isinstance(n, Node) else Node.from_json(n) for n in nodes], best_id)

    def add(self, node: Node) -> Node:
        self.nodes.append(node)
        return node

    def get(self, node_id: str) -> Node:
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)

    def find(self, node_id: str | None) -> Node | None:
        return next((n for n in self.nodes if n.id == node_id), None) if node_id else None

    # ---- views
    def best(self) -> Node | None:
        """The node the run chose (its code is `Results.best_code`); None when no program worked."""
        return self.find(self.best_id)

    def good(self) -> list[Node]:
        return [n for n in self.nodes if n.ok]

    def failed(self) -> list[Node]:
        return [n for n in self.nodes if not n.ok]

    def children(self, node_id: str) -> list[Node]:
        """Programs derived from `node_id` (not its repairs)."""
        return [n for n in self.nodes if n.parent == node_id and n.repair_of is None]

    def by_step(self) -> dict[int | None, list[Node]]:
        out: dict[int | None, list[Node]] = {}
        for node in self.nodes:
            out.setdefault(node.step, []).append(node)
        return out

    def repair_depth(self, node_id: str) -> int:
        """How many repairs lead to this node: 0 for a first attempt, n for the n-th repair in a chain."""
        by_id = {n.id: n for n in self.nodes}
        depth, seen, node = 0, set(), by_id.get(node_id)
        while node is not None and node.repair_of is not None and node.id not in seen:
            seen.add(node.id)
            depth += 1
            node = by_id.get(node.repair_of)
        return depth

    def tree(self) -> list[tuple[Node, int]]:
        """Nodes depth-first under their anchors, with their depth; nodes caught in a cycle come last, at 0."""
        ids = {n.id for n in self.nodes}
        under: dict[str | None, list[Node]] = {}
        for node in self.nodes:
            anchor = node.anchor if node.anchor in ids else None
            under.setdefault(anchor, []).append(node)
        out: list[tuple[Node, int]] = []
        seen: set[str] = set()
        stack = [(n, 0) for n in reversed(under.get(None, []))]
        while stack:  # iterative: a chain of 200 repairs must not hit the recursion limit
            node, depth = stack.pop()
            if node.id in seen:
                continue
            seen.add(node.id)
            out.append((node, depth))
            stack.extend((c, depth + 1) for c in reversed(under.get(node.id, [])))
        out.extend((n, 0) for n in self.nodes if n.id not in seen)
        return out

    def recent_reflections(self, limit: int = 6) -> list[str]:
        out = [f"[{n.id} {n.operation} {n.status}] {n.reflection}" for n in self.nodes if n.reflection]
        return out[-limit:]

    def to_json(self) -> list[dict[str, Any]]:
        return [n.to_json() for n in self.nodes]
