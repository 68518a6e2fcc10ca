"""Polite HTTP fetching: per-host spacing, short connect timeouts, retries on transient failures (`labcoat.retry`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit

import httpx

from labcoat import __version__
from labcoat.retry import Backoff, Transient, call, retry_after_s
from labcoat.tools.errors import ToolError

USER_AGENT = f"labcoat/{__version__} (research tools)"
TRANSIENT_STATUS = {429, 500, 502, 503, 504}
T = TypeVar("T")


class Fetcher:
    """GETs bytes with a minimum delay between requests to one host.

    A connection that cannot be opened is reported at once as kind
    "unreachable" (no retry: the offline fallback wants to know fast); 5xx,
    429 and read timeouts are retried `retries` times, after the server's
    Retry-After or a jittered exponential backoff.
    """

    def __init__(self, *, connect_timeout_s: float = 5.0, read_timeout_s: float = 60.0,
                 delay_s: float = 0.0, retries: int = 2, backoff_s: float = 1.0,
                 max_bytes: int = 200 * 1024 * 1024, sleep: Callable[[float], None] = time.sleep):
        self.delay_s = delay_s
        self.retries = retries
        self.backoff = Backoff(base_s=backoff_s, cap_s=max(backoff_s * 8, backoff_s))
        self.max_bytes = max_bytes
        self.sleep = sleep
        self._timeout = httpx.Timeout(read_timeout_s, connect=connect_timeout_s)
        self._client: httpx.Client | None = None
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()
        self.requests = 0

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(timeout=self._timeout, follow_redirects=True,
                                        headers={"User-Agent": USER_AGENT})
        return self._client

    def _wait_turn(self, host: str) -> None:
        with self._lock:
            last = self._last.get(host)
            now = time.monotonic()
            wait = 0.0 if last is None else self.delay_s - (now - last)
            self._last[host] = now + max(wait, 0.0)
        if wait > 0:
            time.sleep(wait)

    def get(self, url: str, *, what: str = "file", source: str | None = None) -> bytes:
        host = urlsplit(url).netloc
        tries = 0

        def once() -> bytes:
            nonlocal tries
            tries += 1
            self._wait_turn(host)
            self.requests += 1
            return self._get_once(url, what, source)

        try:
            return self.call(once)
        except Transient as exc:
            raise ToolError(exc.kind, f"{what} at {url}: {exc} (after {tries} tries)", source=source) from None

    def call(self, fn: Callable[[], T]) -> T:
        """`fn()` with this fetcher's retry policy: `Transient` errors are tried again."""
        return call(fn, retries=self.retries, retry_if=lambda exc: isinstance(exc, Transient), backoff=self.backoff,
                    sleep=self.sleep)

    def _get_once(self, url: str, what: str, source: str | None) -> bytes:
        try:
            with self._http().stream("GET", url) as resp:
                if resp.status_code in TRANSIENT_STATUS:
                    raise Transient("http", f"HTTP {resp.status_code}", retry_after_s(resp.headers))
                if resp.status_code == 404:
                    raise ToolError("not_found", f"{what} not found at {url} (HTTP 404)", source=source)
                if resp.status_code >= 400:
                    raise ToolError("http", f"{what} at {url}: HTTP {resp.status_code}", source=source)
                chunks, size = [], 0
                for chunk in resp.iter_bytes():
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise ToolError("too_large", f"{what} at {url} exceeds {self.max_bytes} bytes",
                                        source=source)
                    chunks.append(chunk)
                return b"".join(chunks)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise ToolError("unreachable", f"cannot reach {urlsplit(url).netloc} for {what}: "
                                           f"{exc.__class__.__name__}: {exc}", source=source) from None
        except (httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout) as exc:
            raise Transient("timeout", f"timed out: {exc.__class__.__name__}") from None
        except httpx.RemoteProtocolError as exc:
            raise Transient("malformed", f"connection broke off: {exc}") from None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

