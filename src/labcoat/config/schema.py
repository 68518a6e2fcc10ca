"""The research config's pydantic models: every key, its default and its check.

`ResearchConfig` is the validated config a run carries; loading YAML into it
(Agent Laboratory keys, `--set`, environment overrides) is `config.loading`.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from labcoat.config.errors import KeyedValueError
from labcoat.config.names import PHASES, ROLES, normalise_phase


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelsConfig(_Strict):
    """Which model each phase and role uses: role beats phase beats default."""

    default: str = "auto"
    phases: dict[str, str] = Field(default_factory=dict)
    roles: dict[str, str] = Field(default_factory=dict)
    temperature: float | None = None
    max_tokens: int = Field(4096, ge=16)
    request_timeout_s: float = Field(120.0, gt=0)
    retries: int = Field(5, ge=0)
    reply_retries: int = Field(3, ge=0, description="re-asks after a malformed reply")

    @field_validator("phases")
    @classmethod
    def _known_phases(cls, value: dict[str, str]) -> dict[str, str]:
        return {_check_name(k, PHASES, "phase"): v for k, v in value.items()}

    @field_validator("roles")
    @classmethod
    def _known_roles(cls, value: dict[str, str]) -> dict[str, str]:
        return {_check_name(k, ROLES, "role"): v for k, v in value.items()}

    def for_agent(self, phase: str | None, role: str | None) -> str:
        if role and role in self.roles:
            return self.roles[role]
        if phase and phase in self.phases:
            return self.phases[phase]
        return self.default


class PriceOverride(_Strict):
    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)
    cached_input_per_mtok: float | None = Field(None, ge=0)


class BudgetConfig(_Strict):
    dollars: float | None = Field(None, ge=0, description="hard cap on LLM spend; None = no cap")
    lit_review_papers: int = Field(5, ge=0)
    phase_steps: dict[str, int] = Field(default_factory=lambda: {
        "literature_review": 30, "plan_formulation": 12, "data_preparation": 15,
        "results_interpretation": 10,
    })
    mle_steps: int = Field(3, ge=0)
    mle_candidates: int = Field(2, ge=1, description="candidates proposed per mle-solver step (batch B)")
    mle_top_k: int = Field(3, ge=1)
    mle_repairs: int = Field(3, ge=0)
    paper_steps: int = Field(3, ge=0)
    reviewers: int = Field(3, ge=1)
    refinement_rounds: int = Field(2, ge=0)

    @field_validator("phase_steps")
    @classmethod
    def _known_phases(cls, value: dict[str, int]) -> dict[str, int]:
        out = {}
        for k, v in value.items():
            if v < 1:
                raise ValueError(f"step cap for {k} must be at least 1")
            out[_check_name(k, PHASES, "phase")] = v
        return out

    def steps_for(self, phase: str, default: int = 10) -> int:
        return self.phase_steps.get(phase, default)


class MleConfig(_Strict):
    """How the mle-solver ranks programs (documented in docs/mle-solver.md).

    `metric_then_reward`: the plan's primary dev metric decides (its direction
    from the plan); the reward model's score breaks ties and ranks programs
    that report no such metric below all that do. `reward`: the reward model
    alone. `weighted`: (1 - w) * normalised metric + w * reward, with the
    metric min-max normalised over the journal's valid nodes.
    """

    rank: Literal["metric_then_reward", "reward", "weighted"] = "metric_then_reward"
    reward_weight: float = Field(0.3, ge=0, le=1)
    eval_split_env: str = Field("LABCOAT_EVAL_SPLIT", description="env var telling a program to evaluate on test")
    use_seeds: bool = Field(True, description="start from the shipped seed programs when one fits the plan")


class CopilotConfig(_Strict):
    enabled: bool = False
    auto_approve: bool = False
    wait_for_dashboard: bool = Field(False, description="with no terminal, wait for an answer from "
                                     "`labcoat serve` instead of pausing the run")


class ReportConfig(_Strict):
    compile_latex: bool = True


class SandboxConfig(_Strict):
    timeout_s: float = Field(600.0, gt=0)
    cpu_s: int = Field(900, ge=1)
    memory_mb: int = Field(4096, ge=64)
    file_size_mb: int = Field(1024, ge=1)
    disk_mb: int = Field(8192, ge=16, description="disk a program may fill: its workdir and private /tmp together")
    max_processes: int = Field(256, ge=1)
    max_open_files: int = Field(1024, ge=16)
    output_limit_kb: int = Field(256, ge=1)
    network: bool = False
    grant_env: list[str] = Field(default_factory=list, description="environment variables (e.g. API keys) passed into experiments")
    python: str | None = Field(None, description="interpreter for experiments; default: the one running labcoat")
    gpus: list[int] = Field(default_factory=list)
    require_bwrap: bool = False
    threads: int = Field(1, ge=1, description="OMP/BLAS threads per program (candidates already run in parallel)")


class ExecutorConfig(_Strict):
    kind: Literal["process", "ray"] = "process"
    workers: int | None = Field(None, ge=1, description="default: number of CPU cores")
    ray_address: str | None = None
    ray_num_cpus: float = 1
    ray_num_gpus: float = 0
    ray_memory_mb: int | None = None


class ExperimentsConfig(_Strict):
    """Model access for experiment programs, through labcoat's gateway (never the key or the network)."""

    models: list[str] | None = Field(
        None, description="models experiment programs may call; default: the model the task notes name, "
                          "else the run's cheapest configured model; [] turns the gateway off")
    max_calls: int = Field(2000, ge=1, description="model calls one program may make")
    max_concurrent: int = Field(8, ge=1, description="calls one program may have in flight (more wait)")
    max_tokens_per_call: int = Field(4096, ge=16, description="the largest max_tokens a call may ask for")
    gateway_host: str | None = Field(
        None, description="address Ray workers on other machines use to reach the gateway "
                          "(default: loopback for a local Ray, the driver's node address for a cluster)")


class ServicesConfig(_Strict):
    """Base URLs of outside services; environment variables override the defaults."""

    arxiv_api: str = "https://export.arxiv.org/api/query"
    arxiv_pdf: str = "https://arxiv.org/pdf"
    arxiv_eprint: str = "https://arxiv.org/e-print"
    arxiv_delay_s: float = Field(3.0, ge=0)
    hf_endpoint: str = "https://huggingface.co"
    connect_timeout_s: float = Field(5.0, gt=0)
    read_timeout_s: float = Field(60.0, gt=0)
    provider_base_urls: dict[str, str] = Field(default_factory=dict, description="provider preset -> base URL")


class LibraryConfig(_Strict):
    path: Path | None = None


class ArchiveConfig(_Strict):
    url: str | None = None
    publish: bool = True
    enabled: bool = False
    papers: int = Field(5, ge=0, description="archive papers to consider in the literature review")
    lab: str = Field("", description="the lab's name on what it publishes (lab groups set it)")


class ResearchConfig(_Strict):
    topic: str = Field(min_length=1)
    language: str = "English"
    task_notes: dict[str, list[str]] = Field(default_factory=dict)
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    prices: dict[str, PriceOverride] = Field(default_factory=dict)
    copilot: CopilotConfig = Field(default_factory=CopilotConfig)
    mle: MleConfig = Field(default_factory=MleConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    sandbox: SandboxConfig = Field(default_factory=SandboxConfig)
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    experiments: ExperimentsConfig = Field(default_factory=ExperimentsConfig)
    services: ServicesConfig = Field(default_factory=ServicesConfig)
    library: LibraryConfig = Field(default_factory=LibraryConfig)
    archive: ArchiveConfig = Field(default_factory=ArchiveConfig)
    labs: int = Field(1, ge=1)
    papers_to_write: int = Field(1, ge=1)
    phases: list[str] = Field(default_factory=lambda: list(PHASES), description="which phases run, in order")
    seed: int | None = None
    compat_notes: list[str] = Field(default_factory=list, description="how Agent Laboratory keys were mapped")

    @field_validator("task_notes", mode="before")
    @classmethod
    def _notes(cls, value: Any) -> dict[str, list[str]]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ValueError("task_notes must map a phase name to a note or a list of notes")
        out: dict[str, list[str]] = {}
        for k, v in value.items():
            phase = _check_name(str(k), PHASES, "phase")
            notes = [v] if isinstance(v, str) else list(v or [])
            out[phase] = [str(n) for n in notes]
        return out

    @field_validator("phases")
    @classmethod
    def _phases(cls, value: list[str]) -> list[str]:
        out = []
        for i, name in enumerate(value):
            try:
                out.append(_check_name(name, PHASES, "phase"))
            except KeyedValueError as exc:
                raise KeyedValueError(str(exc), key=f"[{i}]") from None
        return out

    @model_validator(mode="after")
    def _topic_not_blank(self) -> "ResearchConfig":
        if not self.topic.strip():
            raise KeyedValueError("the research topic is empty: say what the research is about", key="topic")
        return self

    def notes_for(self, phase: str) -> list[str]:
        return self.task_notes.get(phase, [])


def _check_name(name: str, known: tuple[str, ...], what: str) -> str:
    norm = normalise_phase(name)
    if norm in known:
        return norm
    hint = difflib.get_close_matches(norm, known, n=1)
    extra = f" (did you mean '{hint[0]}'?)" if hint else f" (known: {', '.join(known)})"
    raise KeyedValueError(f"unknown {what} '{name}'{extra}", key=name)
