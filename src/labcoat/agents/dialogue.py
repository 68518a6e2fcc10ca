"""The mechanics of agents talking: a bounded view of a phase's transcript.

Every prompt carries the stable system prefix, then a digest of older turns
(one line each, at most `digest_lines` of them) and the last `recent` turns in
full, so tokens per call stay flat however long the phase runs. Each agent
sees its own turns as `assistant` and everything else (the other agent, tool
results, the lab's reminders) as `user`; consecutive messages of one side are
merged because some providers require alternation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


def clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n… [{len(text) - limit} more characters not shown]"


@dataclass
class Turn:
    step: int
    speaker: str          # a role name, or "lab" for tool results and reminders
    text: str             # what the speaker said, as the others read it
    digest: str           # one line for the summary of older turns
    whole: bool = False   # shown unclipped: a tool result bounded at its source, recorded as read in full


@dataclass
class Transcript:
    # The last exchange in full, the rest as one-line digests: prompts stay flat
    # however long a phase runs (bench/context_growth.py measures it).
    recent: int = 2
    digest_lines: int = 6
    turn_chars: int = 4000
    turns: list[Turn] = field(default_factory=list)

    def add(self, step: int, speaker: str, text: str, digest: str | None = None, *, whole: bool = False) -> Turn:
        turn = Turn(step, speaker, text, digest or clip(" ".join(text.split()), 110), whole)
        self.turns.append(turn)
        return turn

    def messages_for(self, viewer: str, prompt: str) -> list[dict[str, str]]:
        """The message list `viewer` sees, ending with `prompt` from the lab."""
        if self.recent and len(self.turns) > self.recent:
            older, window = self.turns[:-self.recent], self.turns[-self.recent:]
        else:
            older, window = [], list(self.turns)
        raw: list[dict[str, str]] = []
        if older:
            shown = older[-self.digest_lines:]
            skipped = len(older) - len(shown)
            lines = [f"(earlier in this phase{f', {skipped} older turns omitted' if skipped else ''})"]
            lines += [f"step {t.step} {t.speaker}: {t.digest}" for t in shown]
            raw.append({"role": "user", "content": "\n".join(lines)})
        for turn in window:
            side = "assistant" if turn.speaker == viewer else "user"
            text = turn.text if turn.whole else clip(turn.text, self.turn_chars)
            if side == "user" and turn.speaker != "lab":
                text = f"[{turn.speaker}] {text}"
            raw.append({"role": side, "content": text})
        raw.append({"role": "user", "content": prompt})
        return merge(raw)


def merge(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """Join consecutive same-side messages; make sure the first one is the user's."""
    out: list[dict[str, str]] = []
    for m in messages:
        if out and out[-1]["role"] == m["role"]:
            out[-1] = {"role": m["role"], "content": out[-1]["content"] + "\n\n" + m["content"]}
        else:
            out.append(dict(m))
    if out and out[0]["role"] != "user":
        out.insert(0, {"role": "user", "content": "(the phase begins)"})
    return out


def step_prompt(step: int, cap: int, extra: str = "") -> str:
    """The lab's line that asks for the next command, with pressure near the cap."""
    left = cap - step
    text = f"Step {step} of {cap}."
    if left == 0:
        text += " This is your last step: finish now."
    elif left <= 2:
        text += f" Only {left} step{'s' if left > 1 else ''} left after this one: finish soon."
    if extra:
        text += " " + extra.rstrip("\n")
    return text + ("\nYour command:" if "\n" in text else " Your command:")


def command_signature(command: Any) -> str:
    """A canonical form of a command, to spot an agent repeating itself."""
    data = command.model_dump(mode="json") if hasattr(command, "model_dump") else command
    return json.dumps(data, sort_keys=True, ensure_ascii=False)


def render_command(command: Any) -> str:
    """How a command reads in the transcript (and to the other agent)."""
    data = command.model_dump(mode="json") if hasattr(command, "model_dump") else dict(command)
    name = data.pop("command", type(command).__name__)
    if name == "dialogue":
        return str(data.get("text", ""))
    parts = []
    for key, value in data.items():
        if isinstance(value, str) and ("\n" in value or len(value) > 200):
            parts.append(f"{key}:\n```\n{value}\n```")
        else:
            parts.append(f"{key}={json.dumps(value, ensure_ascii=False)}")
    return f"{name}: " + (" ".join(parts) if parts else "")


class RepeatGuard:
    """Refuses a command identical to one the same role already issued."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str], int] = {}

    def check(self, role: str, command: Any, step: int) -> int | None:
        """The earlier step of an identical command, or None (and remember this one)."""
        sig = (role, command_signature(command))
        if sig in self.seen:
            return self.seen[sig]
        self.seen[sig] = step
        return None
