"""How the mle-solver ranks programs and keeps its top-k pool.

The rule is `config.mle.rank` (see MleConfig): by default the plan's primary
dev metric decides and the reward model breaks ties; programs without that
metric rank below all that have it. Test-split metrics never enter here.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from labcoat.journal import Node


@dataclass
class Ranker:
    rule: str = "metric_then_reward"
    higher_is_better: bool = True
    reward_weight: float = 0.3

    def key(self, node: Node, pool: list[Node] | None = None) -> tuple:
        """Larger is better."""
        reward = node.reward if node.reward is not None else 0.0
        metric = node.metric
        signed = None if metric is None else (metric if self.higher_is_better else -metric)
        if self.rule == "reward":
            return (reward, signed if signed is not None else float("-inf"))
        if self.rule == "weighted":
            values = [(n.metric if self.higher_is_better else -n.metric)
                      for n in (pool or [node]) if n.metric is not None]
            if signed is None or not values:
                return (self.reward_weight * reward,)
            lo, hi = min(values), max(values)
            norm = 0.5 if hi == lo else (signed - lo) / (hi - lo)
            return ((1 - self.reward_weight) * norm + self.reward_weight * reward,)
        return (signed is not None, signed if signed is not None else 0.0, reward)

    def best(self, nodes: list[Node]) -> Node | None:
        good = [n for n in nodes if n.ok]
        if not good:
            return None
        return max(good, key=lambda n: self.key(n, good))


@dataclass
class Pool:
    """The top-k programs the solver samples from."""

    k: int
    ranker: Ranker
    members: list[Node] = field(default_factory=list)

    def offer(self, node: Node) -> str:
        """Admit `node` if the pool has room or it beats the worst member; say what happened."""
        if not node.ok:
            return "not admitted (failed)"
        if len(self.members) < self.k:
            self.members.append(node)
            return "admitted"
        worst = min(self.members, key=lambda n: self.ranker.key(n, self.members + [node]))
        if self.ranker.key(node, self.members + [node]) > self.ranker.key(worst, self.members + [node]):
            self.members[self.members.index(worst)] = node
            return f"replaced {worst.id}"
        return "not admitted (no better than the pool)"

    def sample(self, rng: random.Random) -> Node:
        return rng.choice(self.members)

    def ids(self) -> list[str]:
        return [n.id for n in self.members]
