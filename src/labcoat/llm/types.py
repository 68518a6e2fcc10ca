"""Value types of the LLM layer: token usage, a raw completion, a parsed reply.

A *completion* is the JSON-able dict a backend returns for one live call and
the run store records (`text`, `tool_calls` as name + JSON arguments,
`finish_reason`, `usage`, `model`, `latency_s`, `dollars`); parsing it into a
command happens after the store, so replay re-parses exactly what was seen.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Usage:
    """Tokens of one call. `input_tokens` includes cached ones; `reasoning_tokens` are part of output."""

    input_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cache_write_tokens: int = 0

    @property
    def total(self) -> int:
        return self.input_tokens + self.output_tokens

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Usage:
        data = data or {}
        return cls(**{k: int(data.get(k) or 0) for k in cls.__dataclass_fields__})

    def __add__(self, other: Usage) -> Usage:
        return Usage(**{k: getattr(self, k) + getattr(other, k) for k in self.__dataclass_fields__})


@dataclass
class Reply:
    """What `ask`/`complete` return. `command` is None for free-text replies.

    `usage` and `dollars` add up every attempt; for a `replayed` reply they are what
    the original live calls cost (the replay itself cost nothing).
    """

    text: str
    command: Any = None
    usage: Usage = field(default_factory=Usage)
    dollars: float = 0.0
    model: str = ""
    latency_s: float = 0.0
    finish_reason: str | None = None
    attempts: int = 1
    replayed: bool = False

    @property
    def cost(self) -> float:
        return self.dollars


def completion(text: str | None, *, tool_calls: list[dict] | None = None, finish_reason: str | None = None,
               usage: Usage | None = None, model: str = "", latency_s: float = 0.0) -> dict:
    """A raw completion dict in the recorded shape."""
    return {"text": text or "", "tool_calls": tool_calls or [], "finish_reason": finish_reason,
            "usage": (usage or Usage()).to_dict(), "model": model, "latency_s": round(latency_s, 6),
            "dollars": 0.0}
