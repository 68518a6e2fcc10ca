"""Wait for a condition instead of sleeping a fixed time: the suite runs on a loaded 2-core machine."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(check: Callable[[], T], what: str, seconds: float = 30.0, every: float = 0.05) -> T:
    """`check()`'s first truthy value; AssertionError naming `what` if none comes within `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {seconds:g} s waiting for {what}"
        time.sleep(every)
