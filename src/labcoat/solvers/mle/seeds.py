"""The pool of seed programs shipped with labcoat, and picking one for a plan.

Seeds live in `seeds/` beside this module with an `index.yaml` describing
each: kind, keywords matched against the plan, modules it needs, and its
primary metric. A seed is offered only when its modules import in the
experiment environment and its keywords meet the plan; the draw among the
fitting ones is a recorded random choice. When none fits, the solver asks
the ML engineer to write the first program from the plan.
"""

from __future__ import annotations

import importlib.util
import random
from dataclasses import dataclass
from pathlib import Path

import yaml

from labcoat.artefacts import Plan

SEED_DIR = Path(__file__).parent / "seeds"


@dataclass(frozen=True)
class Seed:
    file: str
    kind: str
    keywords: tuple[str, ...]
    requires: tuple[str, ...]
    metric: str

    @property
    def code(self) -> str:
        return (SEED_DIR / self.file).read_text(encoding="utf-8")

    def available(self) -> bool:
        return all(importlib.util.find_spec(m) is not None for m in self.requires)

    def fit(self, plan_text: str) -> int:
        """How many of its keywords the plan mentions."""
        return sum(1 for k in self.keywords if k in plan_text)


def load_seeds(directory: Path = SEED_DIR) -> list[Seed]:
    entries = yaml.safe_load((directory / "index.yaml").read_text(encoding="utf-8")) or []
    return [Seed(e["file"], e["kind"], tuple(e.get("keywords", [])), tuple(e.get("requires", [])),
                 e.get("metric", "")) for e in entries]


def plan_text(plan: Plan) -> str:
    parts = [plan.question, plan.method, *plan.baselines, *plan.hypotheses,
             *(m.name for m in plan.metrics), *(d.name for d in plan.datasets)]
    return " ".join(parts).lower()


def fitting_seeds(plan: Plan, seeds: list[Seed] | None = None) -> list[Seed]:
    """Seeds that can run here and match the plan, best match first."""
    text = plan_text(plan)
    scored = [(s.fit(text), s) for s in (seeds or load_seeds()) if s.available()]
    scored = [(score, s) for score, s in scored if score > 0]
    if not scored:
        return []
    top = max(score for score, _ in scored)
    return [s for score, s in scored if score == top]


def choose_seed(plan: Plan, draw: int, seeds: list[Seed] | None = None) -> Seed | None:
    """Pick among the best-fitting seeds with the recorded random `draw`."""
    options = fitting_seeds(plan, seeds)
    if not options:
        return None
    return random.Random(draw).choice(options)
