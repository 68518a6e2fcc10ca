"""What the phases share: asking an agent for its next command and recording the turn."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from labcoat.agents.dialogue import RepeatGuard, Transcript, render_command, step_prompt
from labcoat.agents.fallible import ask_or_skip
from labcoat.agents.prompting import Prompts
from labcoat.workflow.context import RunContext

T = TypeVar("T")
# The keys of the three final turns after the step cap (recorded runs replay with these names).
LAST_CHANCES = ("final0", "final1", "final2")


@dataclass
class Speaker:
    """One agent in a phase: its role, its stable system prefix, its commands."""

    role: str
    system: str
    commands: list[type]


@dataclass
class PhaseTalk:
    """The running conversation of one phase attempt."""

    ctx: RunContext
    cap: int
    transcript: Transcript = field(default_factory=Transcript)
    guard: RepeatGuard = field(default_factory=RepeatGuard)

    def ask(self, speaker: Speaker, step: int, *, extra: str = "", commands: list[type] | None = None,
            tag: str = "", choices: dict[str, list[str]] | None = None) -> Any:
        """Ask `speaker` for its command at `step`; record the turn; return the command, or None when the
        model sent no valid command within its retries (the turn is skipped and said so)."""
        prompt = step_prompt(step, self.cap, extra)
        messages = self.transcript.messages_for(speaker.role, prompt)
        key = self.ctx.key("step", step, speaker.role, *([tag] if tag else []))
        command = ask_or_skip(self.ctx, key=key, role=speaker.role, system=speaker.system, messages=messages,
                              commands=commands or speaker.commands, choices=choices)
        if command is None:
            self.feedback(step, f"Step {step}: {speaker.role} sent no valid command; the turn is skipped.",
                          skipped=speaker.role)
            return None
        text = render_command(command)
        self.transcript.add(step, speaker.role, text)
        self.ctx.emit("agent_turn", {"step": step, "role": speaker.role,
                                     "command": getattr(command, "command", None), "text": text})
        self.ctx.progress.step(self.ctx.phase or "", step, self.cap, f"{speaker.role}: {getattr(command, 'command', '')}")
        return command

    def converse(self, speakers: Sequence[Speaker], handle: Callable[[int, Any], T | None],
                 own_guard: tuple[type, ...] = ()) -> T | None:
        """Speakers take turns up to the step cap; `handle(step, command)` acts on each new command.

        Returns the first result `handle` gives other than None (the phase's artefact), or None at the cap.
        Skipped turns and repeated commands never reach `handle`, except commands of the `own_guard`
        types: `handle` guards those itself (it refuses a content once, then accepts it).
        """
        for step in range(1, self.cap + 1):
            speaker = speakers[(step - 1) % len(speakers)]
            command = self.ask(speaker, step)
            if not (own_guard and isinstance(command, own_guard)) and self.repeated(speaker, command, step):
                continue
            done = handle(step, command)
            if done is not None:
                return done
        return None

    def last_chances(self, speaker: Speaker, command: type, extra: str, handle: Callable[[int, Any, str], T | None],
                     tags: Sequence[str] = LAST_CHANCES) -> T | None:
        """After the cap: turns in which `command` is the only one allowed; `handle(step, command, tag)`
        accepts one (returns the artefact) or refuses it (None). None when every chance is used."""
        for tag in tags:
            cmd = self.ask(speaker, self.cap, extra=extra, commands=[command], tag=tag)
            if cmd is None:
                continue
            done = handle(self.cap, cmd, tag)
            if done is not None:
                return done
        return None

    def feedback(self, step: int, text: str, digest: str | None = None, *, whole: bool = False,
                 **payload: Any) -> None:
        """Tell the agents what a command did (tool output, a refusal). `whole`: the text is bounded where it
        was made (a paper's text read, search results) and what it holds is recorded as seen, so it is shown
        unclipped."""
        self.transcript.add(step, "lab", text, digest, whole=whole)
        self.ctx.emit("lab_feedback", {"step": step, "text": text, **payload})

    def repeated(self, speaker: Speaker, command: Any, step: int) -> bool:
        """True when the step has nothing to do: a skipped turn (no command) or a repeated command."""
        if command is None:
            return True
        earlier = self.guard.check(speaker.role, command, step)
        if earlier is None:
            return False
        self.feedback(step, f"Refused: you issued this exact command at step {earlier} already. "
                            "Its result is above; do something different.", refused="repeat")
        return True


def system_for(ctx: RunContext, prompts: Prompts, role: str, commands: list[type], *, artefacts: str = "",
               extra: dict[str, Any] | None = None) -> Speaker:
    phase = ctx.phase or ""
    system = prompts.system(role=role, phase=phase, topic=ctx.config.topic, language=ctx.config.language,
                            notes=ctx.phase_notes(), artefacts=artefacts, extra=extra)
    return Speaker(role, system, commands)


def lit_summary(ctx: RunContext, limit: int = 400) -> str:
    """The literature review as a compact list for later phases' prompts."""
    review = ctx.artefacts.get("literature_review")
    papers = getattr(review, "papers", None) or []
    if not papers:
        return ""
    lines = ["Literature review:"]
    for p in papers:
        summary = p.summary if len(p.summary) <= limit else p.summary[:limit] + "…"
        lines.append(f"- [{p.bibtex_key}] {p.title} ({p.year or 'n.d.'}): {summary}")
    return "\n".join(lines)


def plan_summary(ctx: RunContext) -> str:
    plan = ctx.artefacts.get("plan_formulation")
    if plan is None:
        return ""
    data = plan.model_dump(mode="json") if hasattr(plan, "model_dump") else plan
    lines = ["Plan:"]
    for key, value in data.items():
        if value:
            lines.append(f"- {key}: {value}")
    return "\n".join(lines)
