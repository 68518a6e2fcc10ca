"""The one retry policy: Retry-After (seconds, HTTP date, milliseconds) is honoured, else jittered backoff."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from labcoat.retry import Backoff, Transient, call, retry_after_s
from labcoat.tools.errors import ToolError
from labcoat.tools.http import Fetcher

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)


def test_retry_after_in_seconds_as_an_http_date_and_in_milliseconds() -> None:
    assert retry_after_s({"retry-after": "7"}) == 7.0
    assert retry_after_s({"retry-after": format_datetime(NOW + timedelta(seconds=42), usegmt=True)}, now=NOW) == 42.0
    assert retry_after_s({"retry-after": format_datetime(NOW - timedelta(seconds=5), usegmt=True)}, now=NOW) == 0.0
    assert retry_after_s({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after_s({"retry-after": "3600"}) == 120.0  # capped: a run is not parked for an hour
    assert retry_after_s({"retry-after": "soon"}) is None and retry_after_s({}) is None


def test_backoff_without_a_hint_is_exponential_with_jitter() -> None:
    waits: list[float] = []
    failures = iter(range(4))

    def flaky() -> str:
        if next(failures) < 3:
            raise Transient("http", "HTTP 503")
        return "ok"

    backoff = Backoff(base_s=1.0, cap_s=3.0, rng=random.Random(7))
    assert call(flaky, retries=3, retry_if=lambda e: isinstance(e, Transient), backoff=backoff,
                sleep=waits.append) == "ok"
    assert len(waits) == 3 and 0.5 <= waits[0] <= 1.0 and 1.0 <= waits[1] <= 2.0 and 1.5 <= waits[2] <= 3.0
    assert len(set(waits)) == 3  # jittered, not a fixed ladder


def _fetcher(waits: list[float], retries: int = 2) -> Fetcher:
    return Fetcher(retries=retries, backoff_s=5.0, sleep=waits.append)


def test_the_fetcher_waits_what_the_server_says(httpserver: HTTPServer) -> None:
    date = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    httpserver.expect_ordered_request("/paper").respond_with_response(Response("busy", 429, {"Retry-After": "2"}))
    httpserver.expect_ordered_request("/paper").respond_with_response(Response("down", 503, {"Retry-After": date}))
    httpserver.expect_ordered_request("/paper").respond_with_data(b"%PDF-1.7 body")
    waits: list[float] = []
    assert _fetcher(waits).get(httpserver.url_for("/paper")) == b"%PDF-1.7 body"
    assert waits[0] == 2.0 and 25.0 <= waits[1] <= 30.0  # the date is 30 s ahead, less the time to get here


def test_the_fetcher_gives_up_after_its_retries_and_says_how_often_it_tried(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/paper").respond_with_response(Response("down", 503))
    waits: list[float] = []
    with pytest.raises(ToolError) as err:
        _fetcher(waits, retries=1).get(httpserver.url_for("/paper"), what="PDF")
    assert err.value.kind == "http" and "HTTP 503 (after 2 tries)" in str(err.value)
    assert len(waits) == 1 and 2.5 <= waits[0] <= 5.0
