"""The journal is the mle-solver's core data structure.

It records every program the solver tried — seed, edit, replace, repair — as
a `Node`: where it came from, its code, what running it printed and wrote,
how it scored and what the engineer learned from it. The pool, the ranking,
the Results artefact and the dashboard's tree are all views of the journal.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Operation = Literal["seed", "generate", "edit", "replace", "repair"]
Status = Literal["ok", "failed", "refused"]


@dataclass
class Node:
    # ---- code and origin
    id: str
    step: int
    candidate: int
    operation: Operation
    code: str
    parent: str | None = None
    repair_of: str | None = None

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
    metric: float | None = None          # the plan's primary dev metric, when reported
    reward: float | None = None          # the reward model's 0-1 score
    reward_rationale: str = ""
    refusal: str = ""                    # why a guard refused it
    reflection: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def repair_depth(self) -> int:
        return int(self.operation == "repair")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Node":
        return cls(**data)


@dataclass
class Journal:
    nodes: list[Node] = field(default_factory=list)

    def add(self, node: Node) -> Node:
        self.nodes.append(node)
        return node

    def get(self, node_id: str) -> Node:
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)

    @property
    def good_nodes(self) -> list[Node]:
        return [n for n in self.nodes if n.ok]

    @property
    def failed_nodes(self) -> list[Node]:
        return [n for n in self.nodes if not n.ok]

    def children(self, node_id: str) -> list[Node]:
        return [n for n in self.nodes if n.parent == node_id]

    def recent_reflections(self, limit: int = 6) -> list[str]:
        out = [f"[{n.id} {n.operation} {n.status}] {n.reflection}" for n in self.nodes if n.reflection]
        return out[-limit:]

    def to_json(self) -> list[dict[str, Any]]:
        return [n.to_json() for n in self.nodes]
