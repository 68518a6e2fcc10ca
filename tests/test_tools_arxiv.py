"""arXiv search, paging, id lists and error feeds against recorded API responses on loopback."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from werkzeug import Response

from labcoat.config.schema import LibraryConfig, ResearchConfig, ServicesConfig
from labcoat.tools.arxiv_source import normalise_id
from labcoat.tools.research import ResearchTools

from tests.support.lab_services import recorded_feeds


class ArxivReplay:
    """Serves recorded feeds for the query the client sends; counts requests; overrides per test."""

    def __init__(self, httpserver, fixtures_dir: Path):
        self.feeds = recorded_feeds(fixtures_dir)
        self.requests: list[dict] = []
        self.overrides: dict[str, tuple[int, bytes]] = {}
        httpserver.expect_request("/api/query").respond_with_handler(self.handle)

    def handle(self, request) -> Response:
        args = {k: request.args.get(k, "") for k in ("search_query", "id_list", "start", "max_results")}
        self.requests.append(args)
        if args["search_query"] in self.overrides:
            status, body = self.overrides[args["search_query"]]
            return Response(body, status=status, content_type="application/atom+xml; charset=utf-8")
        key = (args["search_query"], args["id_list"], args["start"], args["max_results"])
        if key not in self.feeds:
            return Response(f"no recording for {key}", status=599)
        status, body = self.feeds[key]
        return Response(body, status=status, content_type="application/atom+xml; charset=utf-8")


def make_config(httpserver, **extra) -> ResearchConfig:
    services = ServicesConfig(
        arxiv_api=httpserver.url_for("/api/query"), arxiv_pdf=httpserver.url_for("/pdf"),
        arxiv_eprint=httpserver.url_for("/e-print"), hf_endpoint=httpserver.url_for("/").rstrip("/"),
        arxiv_delay_s=0, connect_timeout_s=2, read_timeout_s=5)
    return ResearchConfig(topic="testing", services=services, library=LibraryConfig(path=extra.get("library")))


@pytest.fixture
def arxiv_replay(httpserver, fixtures_dir):
    return ArxivReplay(httpserver, fixtures_dir)


@pytest.fixture
def tools(httpserver, tmp_path):
    t = ResearchTools(make_config(httpserver), cache_dir=tmp_path / "cache", backoff_s=0.01)
    yield t
    t.close()


def test_search_parses_every_field(tools, arxiv_replay):
    result = tools.search(None, "testing", max_results=10)
    papers = result["papers"]
    assert result["source"] == "arxiv" and len(papers) == 10
    assert len(arxiv_replay.requests) == 1 and arxiv_replay.requests[0]["max_results"] == "10"
    ids = [p["id"] for p in papers]
    assert "2204.08348v3" in ids and "2005.14124v2" in ids
    p = papers[ids.index("2204.08348v3")]
    assert p["version"] == 3 and p["source"] == "arxiv"
    assert p["title"] and p["abstract"] and p["authors"]
    assert p["published"][:4].isdigit() and p["updated"] >= p["published"]
    assert p["primary_category"] in p["categories"]
    assert p["url"].startswith("https://arxiv.org/abs/2204.08348")
    assert p["pdf_url"] and "2204.08348" in p["pdf_url"]
    assert sum(1 for q in papers if q["comment"]) == 10
    assert any(q["journal_ref"] for q in papers) and any(q["doi"] for q in papers)


def test_paging_requests_each_page(httpserver, arxiv_replay, tmp_path):
    tools = ResearchTools(make_config(httpserver), cache_dir=tmp_path / "c", page_size=10)
    both = tools.search(None, "testing", max_results=20)["papers"]
    assert [r["start"] for r in arxiv_replay.requests] == ["0", "10"]
    second = tools.search(None, "testing", max_results=10, start=10)["papers"]
    assert len(both) == 20 and [p["id"] for p in both[10:]] == [p["id"] for p in second]
    assert len({p["id"] for p in both}) == 20
    tools.close()


def test_id_list_with_non_ascii_authors(tools, arxiv_replay):
    papers = tools.lookup(None, ["0808.05394", "1707.08567"])["papers"]
    assert len(papers) == 1
    authors = papers[0]["authors"]
    assert len(authors) == 34
    assert any(ord(ch) > 127 for a in authors for ch in a)
    assert not any("Ã" in a for a in authors)  # mojibake would mean the bytes were decoded wrongly


def test_paper_titled_zero_and_unversioned_id(tools, arxiv_replay):
    zero = tools.lookup(None, ["2104.12255v1"])["papers"]
    assert [p["title"] for p in zero] == ["0"] and zero[0]["id"] == "2104.12255v1"
    one = tools.lookup(None, ["1605.08386"])["papers"]
    assert one[0]["id"].startswith("1605.08386v")
    assert tools.paper(one[0]["id"]) == one[0]


def test_empty_result_is_an_empty_list(tools, arxiv_replay):
    assert tools.lookup(None, ["0000.0000"]) == {"papers": [], "source": "arxiv"}


def test_http_400_feed_gives_arxivs_reason(tools, arxiv_replay, fixtures_dir):
    arxiv_replay.overrides["bad query"] = arxiv_replay.feeds[("", "abc", "0", "100")]
    result = tools.search(None, "bad query", max_results=3)
    assert result["kind"] == "http" and "HTTP 400" in result["error"]
    assert "incorrect id format for abc" in result["error"]
    assert len(arxiv_replay.requests) == 1  # a 4xx is not retried


def test_cut_xml_is_reported_not_silently_shortened(tools, arxiv_replay):
    status, body = arxiv_replay.feeds[("testing", "", "0", "10")]
    arxiv_replay.overrides["cut"] = (200, body[: len(body) // 2])
    result = tools.search(None, "cut", max_results=10)
    assert result["kind"] == "malformed" and "truncated" in result["error"]
    arxiv_replay.overrides["garbage"] = (200, b"\x00\x01 not xml at all")
    assert tools.search(None, "garbage", max_results=10)["kind"] == "malformed"


@pytest.mark.parametrize("body", [
    b"<!DOCTYPE html><html><head><title>Sign in</title></head><body><p>Please log in to the network</p></body></html>",
    b"<html><body>Proxy error<br></body></html>",
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title></channel></rss>',
])
def test_a_page_that_is_not_an_atom_feed_is_an_unexpected_response_not_zero_results(tools, arxiv_replay, body):
    arxiv_replay.overrides["portal"] = (200, body)
    result = tools.search(None, "portal", max_results=10)
    assert result["kind"] == "malformed" and "unexpected response from arXiv" in result["error"], result


def test_server_errors_are_retried_then_reported(tools, arxiv_replay):
    arxiv_replay.overrides["busy"] = (503, b"try later")
    result = tools.search(None, "busy", max_results=2)
    assert result["kind"] == "http" and "503" in result["error"]
    assert len(arxiv_replay.requests) == 3  # first try + 2 retries


def test_second_identical_query_makes_no_request(httpserver, arxiv_replay, tmp_path):
    first = ResearchTools(make_config(httpserver), cache_dir=tmp_path / "shared")
    a = first.search(None, "testing", max_results=10)
    first.close()
    again = ResearchTools(make_config(httpserver), cache_dir=tmp_path / "shared")
    b = again.search(None, "testing", max_results=10)
    again.close()
    assert a == b and len(arxiv_replay.requests) == 1


def test_dead_network_fails_fast_as_unreachable(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once we leave: connections are refused
    services = ServicesConfig(arxiv_api=f"http://127.0.0.1:{port}/api/query", arxiv_delay_s=0,
                              arxiv_eprint=f"http://127.0.0.1:{port}/e-print", connect_timeout_s=1)
    tools = ResearchTools(ResearchConfig(topic="t", services=services), cache_dir=tmp_path)
    started = time.monotonic()
    search = tools.search(None, "anything")
    text = tools.full_text(None, "1509.09292")
    assert time.monotonic() - started < 5
    assert search["kind"] == "unreachable" and search["source"] == "arxiv"
    assert text["kind"] == "unreachable"
    tools.close()


def test_bad_ids_and_queries_are_clear_errors(tools, arxiv_replay):
    assert normalise_id("https://arxiv.org/abs/1509.09292v2") == "1509.09292v2"
    assert normalise_id("arXiv:hep-th/9901001") == "hep-th/9901001"
    bad = tools.full_text(None, "not an id")
    assert bad["kind"] in ("bad_input",) and "not an arXiv id" in bad["error"]
    assert tools.search(None, "   ")["kind"] == "bad_input"
    assert tools.search(None, "x", source="nowhere")["kind"] == "bad_input"
    assert "library.path" in tools.search(None, "x", source="library")["error"]
    assert arxiv_replay.requests == []


def test_stale_cached_search_is_asked_again(httpserver, arxiv_replay, tmp_path):
    import sqlite3

    tools = ResearchTools(make_config(httpserver), cache_dir=tmp_path)
    tools.search(None, "testing", max_results=10)
    tools.close()
    with sqlite3.connect(tmp_path / "tools.db") as db:
        db.execute("UPDATE cache SET created = created - 8 * 24 * 3600 WHERE ns = 'arxiv-search'")
    tools = ResearchTools(make_config(httpserver), cache_dir=tmp_path)
    assert len(tools.search(None, "testing", max_results=10)["papers"]) == 10
    tools.close()
    assert len(arxiv_replay.requests) == 2


def test_slow_server_times_out_as_timeout(httpserver, tmp_path):
    def slow(request):
        time.sleep(1.0)
        return Response(b"late", status=200)

    httpserver.expect_request("/api/query").respond_with_handler(slow)
    httpserver.expect_request("/e-print/1509.09292").respond_with_handler(slow)
    config = make_config(httpserver)
    config.services.read_timeout_s = 0.3
    tools = ResearchTools(config, cache_dir=tmp_path, retries=1, backoff_s=0.01)
    started = time.monotonic()
    search = tools.search(None, "slow")
    text = tools.full_text(None, "1509.09292")
    assert search["kind"] == "timeout" and "timed out" in search["error"]
    assert text["kind"] == "timeout" and "e-print of 1509.09292" in text["error"]
    assert time.monotonic() - started < 8
    tools.close()


def test_legacy_2016_feed_format(tools, arxiv_replay, fixtures_dir):
    body = (fixtures_dir / "arxiv_api" / "arxivpy2016_search_au_del_maestro.xml").read_bytes()
    arxiv_replay.overrides["au:del_maestro"] = (200, body)
    papers = tools.search(None, "au:del_maestro", max_results=10)["papers"]
    assert len(papers) == 10 and all(p["comment"] for p in papers)
    assert sum(1 for p in papers if (p["version"] or 0) >= 2) == 4
    assert all("Del Maestro" in " ".join(p["authors"]) for p in papers)
    assert all(not p["abstract"].startswith(" ") and "\n" not in p["abstract"] for p in papers)
    assert any(p["doi"] for p in papers) and any(p["journal_ref"] for p in papers)
