"""The one retry policy for every network call: tenacity, honouring Retry-After, with jitter.

A server that says when to come back (`Retry-After` in seconds or as an
HTTP date, or `retry-after-ms`) is waited for, up to `cap_s`; otherwise the
wait is base * 2^n with full jitter (half to all of it), so that clients
that failed together do not come back together. The SDK-free tools raise
`Transient` for a failure worth another try; the model layer passes its
SDK errors and a predicate.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import tenacity

T = TypeVar("T")
MAX_RETRY_AFTER_S = 120.0


class Transient(Exception):
    """A failure worth another try (5xx, 429, a read timeout), with the server's Retry-After if it gave one."""

    def __init__(self, kind: str, message: str, retry_after_s: float | None = None):
        self.kind = kind
        self.retry_after_s = retry_after_s
        super().__init__(message)


def retry_after_s(headers: Mapping[str, str] | None, *, now: datetime | None = None,
                  cap_s: float = MAX_RETRY_AFTER_S) -> float | None:
    """Seconds the server asked us to wait, from `retry-after-ms` or `retry-after`; None if it did not say."""
    if not headers:
        return None
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return _capped(float(millis) / 1000, cap_s)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return _capped(float(value), cap_s)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None  # neither seconds nor an HTTP date: back off as usual
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return _capped((when - (now or datetime.now(timezone.utc))).total_seconds(), cap_s)


def _capped(seconds: float, cap_s: float) -> float:
    return min(cap_s, max(0.0, seconds))


def hinted_wait(exc: BaseException | None, cap_s: float = MAX_RETRY_AFTER_S) -> float | None:
    """The wait an error carries: a `Transient`'s, or its HTTP response's Retry-After (the SDKs' errors)."""
    if exc is None:
        return None
    if isinstance(exc, Transient):
        return None if exc.retry_after_s is None else _capped(exc.retry_after_s, cap_s)
    response = getattr(exc, "response", None)
    return retry_after_s(getattr(response, "headers", None), cap_s=cap_s)


class Backoff:
    """tenacity wait: the server's Retry-After when given, else base * 2^n with full jitter, capped."""

    def __init__(self, base_s: float = 1.0, cap_s: float = 30.0, rng: random.Random | None = None,
                 max_retry_after_s: float = MAX_RETRY_AFTER_S):
        self.base_s, self.cap_s, self.max_retry_after_s = base_s, cap_s, max_retry_after_s
        self.rng = rng or random.Random()

    def __call__(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        hinted = hinted_wait(exc, self.max_retry_after_s)
        if hinted is not None:
            return hinted
        ceiling = min(self.cap_s, self.base_s * 2 ** (state.attempt_number - 1))
        return ceiling * (0.5 + 0.5 * self.rng.random())


def call(fn: Callable[[], T], *, retries: int, retry_if: Callable[[BaseException], bool], backoff: Backoff,
         sleep: Callable[[float], None] = time.sleep,
         before_sleep: Callable[[int, BaseException], None] | None = None) -> T:
    """`fn()`, tried again on errors `retry_if` accepts, `retries` times at most; the last error is raised."""
    # Imported here: the CLI's start-up imports this module, and only live network calls retry.
    import tenacity

    def notify(state: tenacity.RetryCallState) -> None:
        if before_sleep is not None and state.outcome is not None:
            before_sleep(state.attempt_number, state.outcome.exception())

    retrying = tenacity.Retrying(stop=tenacity.stop_after_attempt(retries + 1), wait=backoff, sleep=sleep,
                                 retry=tenacity.retry_if_exception(retry_if), before_sleep=notify, reraise=True)
    return retrying(fn)

