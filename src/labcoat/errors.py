"""The errors labcoat raises on purpose.

Each says what was wrong, where, and what to do next. `RunPaused` and its
subclasses are not failures: they stop a run cleanly so `labcoat resume` can
continue it once the cause is fixed (more budget, a provider back up).
"""

from __future__ import annotations


class LabcoatError(Exception):
    """Base of every error labcoat raises deliberately."""


class ConfigError(LabcoatError):
    """A research config is invalid. `path` names the offending key (dotted)."""

    def __init__(self, message: str, path: str | None = None, source: str | None = None):
        self.path = path
        self.source = source
        self.detail = message
        where = ""
        if source:
            where += f"{source}: "
        if path:
            where += f"{path}: "
        super().__init__(f"{where}{message}")


class StoreError(LabcoatError):
    """The run store is missing, corrupt or from a newer labcoat."""


class RunNotFound(LabcoatError):
    """No run matches the id or path the user gave."""


class RunPaused(LabcoatError):
    """Stop the run cleanly; `labcoat resume` continues it. `hint` says how."""

    reason = "paused"

    def __init__(self, message: str, hint: str = ""):
        self.hint = hint
        super().__init__(message)


class BudgetExceeded(RunPaused):
    reason = "budget"


class ProviderUnavailable(RunPaused):
    reason = "provider"


class HumanInputRequired(RunPaused):
    """A co-pilot gate is waiting for an answer and none can be asked here."""

    reason = "waiting_for_human"
