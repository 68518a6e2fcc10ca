"""RunContext: everything a phase needs, passed down explicitly (no globals)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labcoat.config.schema import ResearchConfig
from labcoat.workflow.gates import AutoApprove, Gate
from labcoat.workflow.progress import Progress, SilentProgress
from labcoat.store import Effects, RunStore
from labcoat.store.runstore import dumps


class EventLog:
    """Appends to the deterministic transcript; positions count from 0 every run,
    so a replayed run rewrites nothing it already wrote.

    Replayed events are compared against rows read ahead in batches; once the
    stored transcript's end is known, new events are written in one statement.
    Positions are contiguous, and after any write nothing is stored past it.
    """

    READ_AHEAD = 256

    def __init__(self, store: RunStore):
        self.store = store
        self.pos = 0
        self._ahead: dict[int, tuple[str | None, str, str]] = {}
        self._stored_end: int | None = None  # first position with no stored event, once known

    def emit(self, kind: str, payload: dict | None = None, *, phase: str | None = None) -> int:
        pos = self.pos
        payload = payload or {}
        stored = self._stored(pos)
        if stored is None or stored != (phase, kind, dumps(payload)):
            self.store.put_event(pos, phase, kind, payload, fresh=stored is None)
            self._ahead.clear()
            self._stored_end = pos + 1
        self.pos += 1
        return pos

    def _stored(self, pos: int) -> tuple[str | None, str, str] | None:
        if self._stored_end is not None and pos >= self._stored_end:
            return None
        if pos not in self._ahead:
            rows = self.store.event_rows(pos, self.READ_AHEAD)
            self._ahead = {r[0]: (r[1], r[2], r[3]) for r in rows}
            if len(rows) < self.READ_AHEAD:
                self._stored_end = pos + len(rows)
        return self._ahead.pop(pos, None)


@dataclass
class RunContext:
    config: ResearchConfig
    store: RunStore
    run_id: str
    run_dir: Path
    effects: Effects
    events: EventLog
    gate: Gate = field(default_factory=AutoApprove)
    progress: Progress = field(default_factory=SilentProgress)
    # Provided by later layers (llm, tools, executor); typed loosely here so
    # the spine does not import them.
    models: Any = None
    tools: Any = None
    executor: Any = None
    gateway: Any = None  # model access for experiment programs (labcoat.gateway.RunGateway)
    # Where the workflow is now; phases build effect keys from it.
    phase: str | None = None
    attempt: int = 0
    # Revisits made so far (each uses a refinement round) and co-pilot
    # revisions of the current phase (which use none); see labcoat.workflow.
    revisits: int = 0
    revisions: int = 0
    notes: dict[str, list[str]] = field(default_factory=dict)
    artefacts: dict[str, Any] = field(default_factory=dict)
    # (phase, text) of every warning of the phases' current attempts; a phase that
    # runs again (a revisit, a co-pilot revision) says again what still applies.
    warned: list[tuple[str | None, str]] = field(default_factory=list)
    # The exception that failed the run, if any (the store holds its traceback).
    failure: BaseException | None = None
    # Whether the report can be typeset here, checked once as the run starts
    # (labcoat.report.toolchain.Toolchain); None until checked.
    report_toolchain: Any = None

    def key(self, *parts: object) -> str:
        """The logical position of an effect: phase#attempt/part/part..."""
        head = f"{self.phase or 'run'}#{self.attempt}"
        return "/".join([head, *(str(p) for p in parts)])

    def emit(self, kind: str, payload: dict | None = None) -> int:
        return self.events.emit(kind, payload, phase=self.phase)

    def phase_notes(self, phase: str | None = None) -> list[str]:
        """Task notes from the config plus notes from co-pilot and reviewers."""
        phase = phase or self.phase or ""
        return [*self.config.notes_for(phase), *self.notes.get(phase, [])]

    @property
    def warnings(self) -> list[str]:
        return [text for _, text in self.warned]

    def forget_warnings(self, phase: str) -> None:
        """Drop what an earlier attempt of `phase` warned about (the events keep the whole history)."""
        self.warned = [(p, text) for p, text in self.warned if p != phase]

    def warn(self, text: str) -> None:
        self.warned.append((self.phase, text))
        self.emit("warning", {"message": text})
        self.progress.message(text, level="warning")

    def artefact_dir(self, name: str) -> Path:
        path = self.run_dir / name
        path.mkdir(parents=True, exist_ok=True)
        return path
