"""Live progress of a run in the terminal: phase, step, tokens, dollars."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from labcoat.cli.output import dollars

if TYPE_CHECKING:  # `labcoat run` imports this module and need not load the reviewers
    from labcoat.review.reviewer import ReviewerUpdate


class ConsoleProgress:
    def __init__(self, console: Console):
        self.console = console
        self.tokens = 0
        self.cost = 0.0
        self.current = ""

    def phase(self, name: str, attempt: int) -> None:
        self.current = name
        again = f" (revision {attempt})" if attempt else ""
        self.console.rule(f"[bold]{name.replace('_', ' ')}{again}")

    def step(self, phase: str, step: int, total: int | None, note: str = "") -> None:
        of = f"/{total}" if total else ""
        self.console.print(
            f"[dim]{phase}[/] step {step}{of}  tokens {self.tokens:,}  {dollars(self.cost)}"
            + (f"  {note}" if note else "")
        )

    def spend(self, tokens: int, dollars_: float) -> None:
        self.tokens += tokens
        self.cost += dollars_

    def message(self, text: str, *, level: str = "info") -> None:
        style = {"warning": "yellow", "error": "bold red"}.get(level, "")
        self.console.print(f"[{style}]{escape(text)}[/]" if style else escape(text))


class ReviewProgress(ConsoleProgress):
    """`labcoat review`: a line as each reviewer starts, and its scores as it finishes."""

    def __init__(self, console: Console, heading: str):
        super().__init__(console)
        self.heading = heading

    def phase(self, name: str, attempt: int) -> None:
        # The review is stored as a one-phase run; its phase name would only confuse here.
        self.console.rule(f"[bold]{escape(self.heading)}")

    def reviewer(self, update: ReviewerUpdate) -> None:
        # The same line a run's progress shows for its review panel, with the spend so far.
        self.console.print(f"{escape(update.describe())}  tokens {self.tokens:,}  {dollars(self.cost)}")
