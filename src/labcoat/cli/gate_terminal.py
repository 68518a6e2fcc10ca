"""The co-pilot gate in a terminal: a summary panel, then approve or revise."""

from __future__ import annotations

from rich.console import Console
from rich.panel import Panel
from rich.prompt import Prompt

from labcoat.workflow.gates import GateAnswer


class TerminalGate:
    def __init__(self, console: Console):
        self.console = console

    def ask(self, phase: str, attempt: int, summary: str) -> GateAnswer:
        title = f"{phase.replace('_', ' ')} — done" + (f" (revision {attempt})" if attempt else "")
        self.console.print(Panel(summary, title=title, expand=False))
        choice = Prompt.ask("Approve this phase, or revise it with notes?",
                            choices=["approve", "revise"], default="approve", console=self.console)
        if choice == "approve":
            return GateAnswer("approve")
        notes = ""
        while not notes.strip():
            notes = Prompt.ask("Notes for the agents (what should change?)", console=self.console)
        return GateAnswer("revise", notes.strip())
