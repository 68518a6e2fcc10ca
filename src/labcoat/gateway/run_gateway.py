"""`RunGateway`: a run's model gateway, started the first time a program may call models.

`allowed_models(ctx)` applies `experiments.models`: the listed models; by
default the model the task notes name (Agent Laboratory's notes say "use
gpt-4o-mini for your experiments"), else the cheapest model the run is
configured with (a model with no known price, a local one, counts as free);
`[]` gives programs no model access at all.
"""

from __future__ import annotations

import re
from typing import Any

from labcoat.errors import ConfigError
from labcoat.gateway.calls import ExperimentCalls, Grant
from labcoat.llm.presets import BARE_NAMES, parse_model

# A provider:model name, or a bare name Agent Laboratory's notes use (query_gpt4omini means gpt-4o-mini).
_NAMED = re.compile(r"\b([a-z]+:[A-Za-z0-9][\w.\-/:]*[A-Za-z0-9]|gpt-4o-mini|gpt4omini|gpt-4o|deepseek-chat|"
                    r"o3-mini|o1-mini|claude-[\w.\-]+)\b")
_ALIASES = {"gpt4omini": "gpt-4o-mini"}


def named_in_notes(notes: dict[str, list[str]]) -> list[str]:
    """Models the task notes of the planning and experiment phases name, in order, as labcoat ids."""
    found: list[str] = []
    for phase in ("plan_formulation", "running_experiments", "data_preparation"):
        for note in notes.get(phase, []):
            for match in _NAMED.finditer(note):
                name = _ALIASES.get(match.group(1), match.group(1))
                try:
                    ref = parse_model(BARE_NAMES.get(name, name))
                except ConfigError:
                    continue
                if ref.id not in found:
                    found.append(ref.id)
    return found


def allowed_models(ctx: Any) -> tuple[str, ...]:
    listed = ctx.config.experiments.models
    if listed is not None:
        return tuple(dict.fromkeys(parse_model(m).id for m in listed))
    named = named_in_notes(ctx.config.task_notes)
    if named:
        return (named[0],)
    return (cheapest_configured(ctx),)


def cheapest_configured(ctx: Any) -> str:
    m = ctx.config.models
    names = [m.default, *m.phases.values(), *m.roles.values()]
    ids = []
    for name in names:
        if name.strip().lower() == "auto":
            ids.append(ctx.models.model_for(None))
        else:
            ids.append(parse_model(name).id)
    ids = list(dict.fromkeys(ids))

    def price(model_id: str) -> float:
        per = ctx.models.pricer.per_mtok(parse_model(model_id))
        return 0.0 if per is None else per[0] + per[1]

    return min(ids, key=price)


class RunGateway:
    """Grants for a run's programs; the server starts on the first grant and stops with the run."""

    def __init__(self, ctx: Any):
        self.ctx = ctx
        self._gateway: Any = None
        self._allowed: tuple[str, ...] | None = None

    @property
    def allowed(self) -> tuple[str, ...]:
        if self._allowed is None:
            self._allowed = allowed_models(self.ctx)
        return self._allowed

    def open(self, program: str) -> Grant | None:
        """A grant for the program run `program`, or None when experiments may call no model."""
        if not self.allowed:
            return None
        if self._gateway is None:
            from labcoat.gateway.server import Gateway

            cfg = self.ctx.config
            host = None
            if cfg.executor.kind == "ray":
                host = cfg.experiments.gateway_host or ("127.0.0.1" if not cfg.executor.ray_address else _node_ip())
            self._gateway = Gateway(ExperimentCalls(self.ctx), tcp_host=host, log=self._log).start()
        limits = self.ctx.config.experiments
        return self._gateway.open(program, allowed=self.allowed, max_calls=limits.max_calls,
                                  max_concurrent=limits.max_concurrent, max_tokens=limits.max_tokens_per_call,
                                  phase=self.ctx.phase)

    def access(self, grant: Grant) -> dict[str, Any]:
        return self._gateway.access(grant, remote=self.ctx.config.executor.kind == "ray")

    def revoke(self, grant: Grant) -> None:
        self._gateway.revoke(grant)

    def _log(self, message: str, payload: dict) -> None:
        self.ctx.store.log("gateway_refused", message, **payload)

    def close(self) -> None:
        if self._gateway is not None:
            self._gateway.close()
            self._gateway = None


def _node_ip() -> str:
    import ray

    return ray.util.get_node_ip_address()
