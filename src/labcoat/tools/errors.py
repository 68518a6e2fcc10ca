"""The one error type research tools raise; the facade turns it into data for agents."""

from __future__ import annotations

from labcoat.errors import LabcoatError

# Kinds callers branch on: "unreachable" (network down or host dead: fall back
# to offline sources), "timeout", "http" (the server refused), "malformed"
# (a response or file that cannot be parsed), "not_found", "too_large",
# "encrypted", "bad_input".
KINDS = ("unreachable", "timeout", "http", "malformed", "not_found", "too_large", "encrypted", "bad_input")


class ToolError(LabcoatError):
    """A research tool failed in a way an agent or a user should be told about."""

    def __init__(self, kind: str, message: str, *, source: str | None = None):
        self.kind = kind
        self.source = source
        super().__init__(message)

    def as_result(self) -> dict:
        out = {"error": str(self), "kind": self.kind}
        if self.source:
            out["source"] = self.source
        return out
