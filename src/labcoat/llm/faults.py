"""Provider faults: which to retry, how long to wait, and key scrubbing.

Retried: 429 (waiting what Retry-After / retry-after-ms says, capped), 408, 409,
5xx (Anthropic's 529 included), connection errors, timeouts and a response
body cut short (the SDK fails to decode it); with
exponential backoff and jitter otherwise. The SDKs' own retries are off so the
count here is the only one. After `retries` retries the call raises
`ProviderUnavailable` (the run pauses; resume repeats the call). An
authentication failure also pauses: fixing the key and resuming is the cure.
Other refusals (400, 404, ...) raise `ProviderError`: the request itself is
wrong, and repeating it cannot help. Every message is scrubbed of key values
and raised without its SDK cause (whose request carries the key in a header).
"""

from __future__ import annotations

import json
import random
import re
import sys
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from labcoat.errors import LabcoatError, ProviderUnavailable

if TYPE_CHECKING:
    import tenacity

RETRY_STATUS = {408, 409, 429}
MAX_RETRY_AFTER_S = 120.0
_KEYLIKE = re.compile(r"\b(sk-[A-Za-z0-9_\-]{6,}|AIza[0-9A-Za-z_\-]{20,})")


class ProviderError(LabcoatError):
    """The provider refused the request itself (a 4xx other than rate limits and auth)."""


def scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return _KEYLIKE.sub("[redacted]", text)


def _status(exc: BaseException) -> int | None:
    return getattr(exc, "status_code", None)


def _sdk_errors(name: str) -> tuple[type[BaseException], ...]:
    """The SDKs' exception class `name` (APIError, APIConnectionError), for the SDKs already loaded.

    The backends import their SDK lazily; an SDK that is not loaded cannot have raised,
    and importing it here would cost seconds for nothing.
    """
    loaded = (sys.modules.get(sdk) for sdk in ("openai", "anthropic"))
    return tuple(getattr(module, name) for module in loaded if module is not None)


def retryable(exc: BaseException) -> bool:
    if isinstance(exc, (*_sdk_errors("APIConnectionError"), json.JSONDecodeError)):
        return True  # timeouts are connection errors in both SDKs
    status = _status(exc)
    return status is not None and (status in RETRY_STATUS or status >= 500)


def retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return min(MAX_RETRY_AFTER_S, max(0.0, float(value) * scale))
        except ValueError:
            continue  # an HTTP date: fall back to backoff
    return None


class Backoff:
    """tenacity wait: Retry-After when given, else base * 2^n with full jitter, capped."""

    def __init__(self, base_s: float = 1.0, cap_s: float = 30.0, rng: random.Random | None = None):
        self.base_s, self.cap_s = base_s, cap_s
        self.rng = rng or random.Random()

    def __call__(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        hinted = retry_after(exc) if exc else None
        if hinted is not None:
            return hinted
        ceiling = min(self.cap_s, self.base_s * 2 ** (state.attempt_number - 1))
        return ceiling * (0.5 + 0.5 * self.rng.random())


def describe(exc: BaseException) -> str:
    status = _status(exc)
    kind = type(exc).__name__
    message = getattr(exc, "message", None) or str(exc)
    if isinstance(exc, json.JSONDecodeError):
        return f"the response body is not valid JSON ({exc.msg}); it was probably cut short"
    return f"{kind} ({status}): {message}" if status else f"{kind}: {message}"


def call_with_retries(fn: Callable[[], Any], *, what: str, retries: int, secrets: Iterable[str],
                      backoff: Backoff, sleep: Callable[[float], None] = time.sleep,
                      on_retry: Callable[[str], None] | None = None, key_env: str | None = None) -> Any:
    import tenacity  # deferred with the SDKs: only live calls retry

    secrets = list(secrets)

    def before_sleep(state: tenacity.RetryCallState) -> None:
        if on_retry is not None and state.outcome is not None:
            on_retry(scrub(f"{what}: attempt {state.attempt_number} failed with "
                           f"{describe(state.outcome.exception())}; retrying", secrets))

    retrying = tenacity.Retrying(stop=tenacity.stop_after_attempt(retries + 1), wait=backoff, sleep=sleep,
                                 retry=tenacity.retry_if_exception(retryable), before_sleep=before_sleep,
                                 reraise=True)
    try:
        return retrying(fn)
    except (*_sdk_errors("APIError"), json.JSONDecodeError) as exc:
        detail = scrub(describe(exc), secrets)
        status = _status(exc)
        if retryable(exc):
            raise ProviderUnavailable(f"{what} failed {retries + 1} times; last: {detail}",
                                      hint="the run is paused; `labcoat resume RUN` continues it once the "
                                           "provider answers again") from None
        if status in (401, 403):
            raise ProviderUnavailable(f"{what} was refused: {detail}",
                                      hint=f"check {key_env or 'the API key variable'}, then "
                                           "`labcoat resume RUN`") from None
        raise ProviderError(f"{what} was refused: {detail}") from None
