"""The phases of a research run, one module per phase, each `ctx -> artefact`.

`default_workflow` assembles the configured phases that are available.
"""

from __future__ import annotations

from labcoat.config import ResearchConfig
from labcoat.workflow import Phase, Workflow


def available_phases() -> dict[str, Phase]:
    """Every phase labcoat implements, by name."""
    phases: dict[str, Phase] = {}
    return phases


def default_workflow(config: ResearchConfig) -> Workflow:
    known = available_phases()
    missing = [p for p in config.phases if p not in known]
    if missing:
        from labcoat.errors import ConfigError

        raise ConfigError(
            f"these phases are not available in this labcoat: {', '.join(missing)}",
            path="phases",
        )
    return Workflow([known[name] for name in config.phases])
