"""The phases of a research run, one module per phase, each `ctx -> artefact`.

`default_workflow` assembles the configured phases that are available.
"""

from __future__ import annotations

from labcoat.config.schema import ResearchConfig
from labcoat.workflow import Phase, Workflow


def available_phases() -> dict[str, Phase]:
    """Every phase labcoat implements, by name."""
    from labcoat.phases import (data_preparation, literature_review, plan_formulation, report_refinement,
                                report_writing, results_interpretation, running_experiments)

    return {
        literature_review.NAME: Phase(literature_review.NAME, literature_review.run),
        plan_formulation.NAME: Phase(plan_formulation.NAME, plan_formulation.run, plan_formulation.summarise),
        data_preparation.NAME: Phase(data_preparation.NAME, data_preparation.run),
        running_experiments.NAME: Phase(running_experiments.NAME, running_experiments.run),
        results_interpretation.NAME: Phase(results_interpretation.NAME, results_interpretation.run),
        report_writing.NAME: Phase(report_writing.NAME, report_writing.run, report_writing.summarise),
        report_refinement.NAME: Phase(report_refinement.NAME, report_refinement.run, report_refinement.summarise),
    }


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
