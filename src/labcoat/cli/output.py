"""Consoles and formatting shared by the CLI commands."""

from __future__ import annotations

import time

from rich.console import Console


def console() -> Console:
    # Soft wrap: a run directory or a `labcoat resume ...` line is never broken for copy-paste.
    return Console(highlight=False, soft_wrap=True)


def err_console() -> Console:
    # Messages are not hard-wrapped, so a long path or key stays one searchable line.
    return Console(stderr=True, highlight=False, soft_wrap=True)


def age(ts: float | None, now: float | None = None) -> str:
    if not ts:
        return "-"
    seconds = max(0, int((now or time.time()) - ts))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def dollars(value: float) -> str:
    return f"${value:,.4f}" if value < 1 else f"${value:,.2f}"
