"""The phase sequence: run each registered phase, gate it, store its artefact.

A phase is a function `ctx -> artefact` (a pydantic model or a JSON-able
dict). Resume is replay: the whole workflow runs again from the first phase
and every recorded effect is served from the store, so the phases' own code
needs no resume logic. A phase may raise `Revisit` to send the run back to an
earlier phase with notes (the report refinement does); the number of
revisits is bounded by `budget.refinement_rounds`.

Two counts are kept apart: `ctx.revisits` (the phases' own `Revisit`
decisions, which use up refinement rounds) and `ctx.revisions` (co-pilot
answers of "revise" for the current phase, which do not). A phase's attempt
number counts both and only names its effects. Both counts are rebuilt on
replay from recorded effects — the PhD's decision is a recorded model reply,
the co-pilot's a recorded human answer — so a resumed run counts the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from labcoat.workflow.context import RunContext
from labcoat.workflow.gates import GateAnswer
from labcoat.store.runstore import dumps

PhaseFn = Callable[[RunContext], Any]


class Revisit(Exception):
    """Raised by a phase to return the run to an earlier phase with notes."""

    def __init__(self, phase: str, notes: str, artefact: Any = None):
        self.phase = phase
        self.notes = notes
        self.artefact = artefact
        super().__init__(f"revisit {phase}")


@dataclass
class Phase:
    name: str
    run: PhaseFn
    summarise: Callable[[Any], str] | None = None


class Workflow:
    """An ordered pipeline of phases."""

    def __init__(self, phases: list[Phase]):
        names = [p.name for p in phases]
        if len(set(names)) != len(names):
            raise ValueError(f"phase names repeat: {names}")
        self.phases = phases

    def names(self) -> list[str]:
        return [p.name for p in self.phases]

    def run(self, ctx: RunContext) -> dict[str, Any]:
        ctx.emit("run_start", {"topic": ctx.config.topic, "phases": self.names()})
        index = 0
        attempts: dict[str, int] = {}
        revisions: dict[str, int] = {}
        revisits = 0
        while index < len(self.phases):
            phase = self.phases[index]
            attempt = attempts.get(phase.name, 0)
            ctx.revisits, ctx.revisions = revisits, revisions.get(phase.name, 0)
            try:
                artefact = self.run_phase(ctx, phase, attempt)
            except Revisit as back:
                revisits += 1
                target = self._index_of(back.phase)
                ctx.phase = phase.name
                ctx.emit("revisit", {"to": back.phase, "notes": back.notes, "round": revisits,
                                     "rounds": ctx.config.budget.refinement_rounds})
                if back.artefact is not None:
                    self._store_artefact(ctx, phase.name, back.artefact)
                if revisits > ctx.config.budget.refinement_rounds or target is None:
                    why = "round bound reached" if target is not None else f"unknown phase {back.phase}"
                    ctx.warn(f"not returning to {back.phase}: {why}; the run ends with the current report")
                    index += 1
                    continue
                ctx.notes.setdefault(back.phase, []).append(back.notes)
                for later in self.phases[target:]:
                    attempts[later.name] = attempts.get(later.name, 0) + 1
                index = target
                continue
            answer = self.gate(ctx, phase, attempt, artefact)
            if answer.decision == "revise":
                # A new attempt of this phase, but not a revisit: refinement rounds stay as they were.
                revisions[phase.name] = revisions.get(phase.name, 0) + 1
                ctx.emit("copilot_revision", {"revision": revisions[phase.name], "next_attempt": attempt + 1,
                                              "refinement_rounds_used": revisits})
                ctx.notes.setdefault(phase.name, []).append(answer.notes)
                attempts[phase.name] = attempt + 1
                continue
            index += 1
        ctx.phase = None
        ctx.emit("run_end", {"warnings": len(ctx.warnings)})
        return ctx.artefacts

    def _index_of(self, name: str) -> int | None:
        for i, p in enumerate(self.phases):
            if p.name == name:
                return i
        return None

    def run_phase(self, ctx: RunContext, phase: Phase, attempt: int) -> Any:
        ctx.phase, ctx.attempt = phase.name, attempt
        ctx.forget_warnings(phase.name)
        ctx.store.set_state("running", phase=phase.name)
        ctx.progress.phase(phase.name, attempt)
        ctx.emit("phase_start", {"attempt": attempt, "notes": ctx.phase_notes()})
        artefact = phase.run(ctx)
        self._store_artefact(ctx, phase.name, artefact)
        ctx.emit("phase_end", {"attempt": attempt, "artefact": phase.name})
        return artefact

    def _store_artefact(self, ctx: RunContext, name: str, artefact: Any) -> None:
        ctx.artefacts[name] = artefact
        data = artefact.model_dump(mode="json") if hasattr(artefact, "model_dump") else artefact
        kind = type(artefact).__name__
        ctx.store.put_artefact(name, kind, data, phase=name)
        _ = dumps(data)  # fail here, not later, if an artefact is not JSON-able

    def gate(self, ctx: RunContext, phase: Phase, attempt: int, artefact: Any) -> GateAnswer:
        if not ctx.config.copilot.enabled or ctx.config.copilot.auto_approve:
            return GateAnswer("approve")
        summary = phase.summarise(artefact) if phase.summarise else default_summary(artefact)
        request = {"phase": phase.name, "attempt": attempt, "summary": summary}
        ctx.store.set_state("waiting", phase=phase.name, message=f"waiting for approval of {phase.name}")
        answer = ctx.effects.run(
            "human", ctx.key("gate"), request,
            lambda: ctx.gate.ask(phase.name, attempt, summary).to_json(),
        )
        ctx.store.set_state("running", phase=phase.name)
        parsed = GateAnswer.from_json(answer)
        ctx.emit("gate", {"decision": parsed.decision, "notes": parsed.notes})
        return parsed


def default_summary(artefact: Any) -> str:
    data = artefact.model_dump(mode="json") if hasattr(artefact, "model_dump") else artefact
    text = dumps(data)
    return text if len(text) < 2000 else text[:2000] + " …"
