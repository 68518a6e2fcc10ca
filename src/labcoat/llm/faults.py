"""Provider faults: which to retry, how long to wait, and key scrubbing.

Retried (`labcoat.retry`: Retry-After when the provider gives it, else
exponential backoff with jitter): 429, 408, 409, 5xx (Anthropic's 529
included), connection errors, timeouts and a response body cut short (the
SDK fails to decode it). The SDKs' own retries are off so the
count here is the only one. After `retries` retries the call raises
`ProviderUnavailable` (the run pauses; resume repeats the call). An
authentication failure also pauses: fixing the key and resuming is the cure.
Other refusals (400, 404, ...) raise `ProviderError`: the request itself is
wrong, and repeating it cannot help. Every message is scrubbed of key values
and raised without its SDK cause (whose request carries the key in a header).
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

from labcoat.errors import LabcoatError, ProviderUnavailable
from labcoat.retry import Backoff, call

RETRY_STATUS = {408, 409, 429}
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
    secrets = list(secrets)

    def before_sleep(attempt: int, exc: BaseException) -> None:
        if on_retry is not None:
            on_retry(scrub(f"{what}: attempt {attempt} failed with {describe(exc)}; retrying", secrets))

    try:
        return call(fn, retries=retries, retry_if=retryable, backoff=backoff, sleep=sleep, before_sleep=before_sleep)
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
