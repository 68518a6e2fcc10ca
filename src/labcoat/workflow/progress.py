"""How a run reports progress to whoever watches it (terminal, tests, nothing).

The workflow and phases call these hooks; the CLI supplies a rich-based
implementation. Keeping it an interface keeps `rich` out of the lower layers.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def phase(self, name: str, attempt: int) -> None: ...
    def step(self, phase: str, step: int, total: int | None, note: str = "") -> None: ...
    def spend(self, tokens: int, dollars: float) -> None: ...
    def message(self, text: str, *, level: str = "info") -> None: ...


class SilentProgress:
    """Progress that records messages in memory (tests) and prints nothing."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str]] = []

    def phase(self, name: str, attempt: int) -> None:
        self.messages.append(("phase", f"{name}#{attempt}"))

    def step(self, phase: str, step: int, total: int | None, note: str = "") -> None:
        pass

    def spend(self, tokens: int, dollars: float) -> None:
        pass

    def message(self, text: str, *, level: str = "info") -> None:
        self.messages.append((level, text))
