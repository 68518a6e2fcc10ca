"""Programs as numbered lines, and the edit/replace operations on them."""

from __future__ import annotations


class EditError(ValueError):
    """An edit that cannot apply; the message goes back to the model."""


def numbered(code: str) -> str:
    """The program with 1-based line numbers, as the model sees it."""
    lines = code.splitlines()
    width = len(str(len(lines))) if lines else 1
    return "\n".join(f"{i:>{width}}| {line}" for i, line in enumerate(lines, 1))


def apply_edit(code: str, start: int, end: int, new_lines: str) -> str:
    """Replace lines start..end (1-based, inclusive) with `new_lines`.

    `end = start - 1` inserts before `start` without removing anything.
    """
    lines = code.splitlines()
    n = len(lines)
    if start < 1 or start > n + 1:
        raise EditError(f"edit start {start} is outside the program (lines 1..{n}; use {n + 1} to append)")
    if end < start - 1 or end > n:
        raise EditError(f"edit end {end} is invalid for start {start} (need start-1 <= end <= {n})")
    replacement = new_lines.splitlines()
    out = lines[: start - 1] + replacement + lines[end:]
    return "\n".join(out) + "\n"
