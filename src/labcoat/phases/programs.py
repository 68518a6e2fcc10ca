"""Running agents' programs from phases: one recorded sandbox execution each."""

from __future__ import annotations

from labcoat.context import RunContext


def run_program_effect(ctx: RunContext, key: str, code: str, *, inputs: dict[str, str] | None = None,
                       timeout: float | None = None) -> dict:
    """Run `code` in the sandbox as a recorded effect; the result is JSON (see labcoat.sandbox)."""
    from labcoat.sandbox import run_in_sandbox

    return run_in_sandbox(ctx, key, code, inputs=inputs, timeout=timeout)
