"""The seven phases of a research run, in order, and the roles that act in them."""

from __future__ import annotations

PHASES: tuple[str, ...] = (
    "literature_review",
    "plan_formulation",
    "data_preparation",
    "running_experiments",
    "results_interpretation",
    "report_writing",
    "report_refinement",
)

ROLES: tuple[str, ...] = ("phd", "postdoc", "ml_engineer", "sw_engineer", "professor", "reviewer")


def normalise_phase(name: str) -> str:
    """'literature-review', 'Literature Review' and 'literature_review' are one phase."""
    return name.strip().lower().replace("-", "_").replace(" ", "_")
