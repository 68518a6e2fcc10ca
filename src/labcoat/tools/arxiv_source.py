"""arXiv as a literature source: search and id lookup through the `arxiv` package, files through our fetcher.

The API is retried with the fetcher's policy (`labcoat.retry`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

import arxiv
import requests
from lxml import etree

from labcoat.retry import Transient, retry_after_s
from labcoat.tools import fulltext
from labcoat.tools.cache import DiskCache
from labcoat.tools.errors import ToolError
from labcoat.tools.http import USER_AGENT, Fetcher

ATOM_FEED = "{http://www.w3.org/2005/Atom}feed"

SORTS = {"relevance": arxiv.SortCriterion.Relevance, "submitted": arxiv.SortCriterion.SubmittedDate,
         "updated": arxiv.SortCriterion.LastUpdatedDate}
ID_RE = re.compile(r"^(?:arxiv:)?((?:\d{4}\.\d{4,5})|(?:[a-z\-]+(?:\.[A-Z]{2})?/\d{7}))(v\d+)?$", re.I)
MAX_RESULTS = 200
# New papers appear daily; a cached search older than this is asked again.
SEARCH_MAX_AGE_S = 7 * 24 * 3600
T = TypeVar("T")


class _Session(requests.Session):
    """The arxiv package's session, with our timeouts and a copy of each response body."""

    def __init__(self, timeout: tuple[float, float]):
        super().__init__()
        self.timeout = timeout
        self.bodies: list[tuple[int, bytes]] = []
        self.retry_after_s: float | None = None

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        resp = super().request(method, url, *args, **kwargs)
        self.bodies.append((resp.status_code, resp.content))
        self.retry_after_s = retry_after_s(resp.headers)
        return resp


def normalise_id(paper_id: str) -> str:
    """'arXiv:1509.09292v2' or an abs/pdf URL -> '1509.09292v2'; ToolError on anything else."""
    text = str(paper_id).strip()
    text = re.sub(r"^https?://[^/]*arxiv\.org/(?:abs|pdf|e-print)/", "", text).removesuffix(".pdf")
    m = ID_RE.match(text)
    if not m:
        raise ToolError("bad_input", f"'{paper_id}' is not an arXiv id (expected e.g. 1509.09292 or "
                                     "1509.09292v2)", source="arxiv")
    return m.group(1) + (m.group(2) or "")


def to_paper(result: arxiv.Result) -> dict:
    short = result.get_short_id()
    m = re.search(r"v(\d+)$", short)
    return {
        "id": short,
        "version": int(m.group(1)) if m else None,
        "title": " ".join(result.title.split()),
        "authors": [a.name for a in result.authors],
        "abstract": " ".join(result.summary.split()),
        "published": result.published.isoformat() if result.published else None,
        "updated": result.updated.isoformat() if result.updated else None,
        "categories": list(result.categories),
        "primary_category": result.primary_category or None,
        "comment": result.comment,
        "journal_ref": result.journal_ref,
        "doi": result.doi,
        "url": result.entry_id.replace("http://", "https://", 1),
        "pdf_url": result.pdf_url,
        "source": "arxiv",
    }


class ArxivSource:
    """search / lookup / full_text over the arXiv API, the PDF and the e-print endpoints."""

    name = "arxiv"

    def __init__(self, services: Any, cache: DiskCache, fetcher: Fetcher, *, page_size: int = 100,
                 max_pages: int = 300):
        self.services = services
        self.cache = cache
        self.fetcher = fetcher
        self.max_pages = max_pages
        self.page_size = page_size
        self.client = arxiv.Client(page_size=page_size, delay_seconds=services.arxiv_delay_s, num_retries=0)
        # The package's documented knob for a different endpoint.
        self.client.query_url_format = services.arxiv_api.rstrip("?") + "?{}"
        self.session = _Session((services.connect_timeout_s, services.read_timeout_s))
        self.session.headers["User-Agent"] = USER_AGENT
        # The package has no timeout setting; its session is the one place to put ours.
        self.client._session = self.session

    # -- search ------------------------------------------------------------
    def search(self, query: str, *, max_results: int = 5, start: int = 0, sort: str = "relevance") -> list[dict]:
        if not str(query).strip():
            raise ToolError("bad_input", "the search query is empty", source=self.name)
        if sort not in SORTS:
            raise ToolError("bad_input", f"unknown sort '{sort}' (use {', '.join(SORTS)})", source=self.name)
        max_results = max(1, min(int(max_results), MAX_RESULTS))
        # Ask for no more per page than wanted: the API is slow for big pages.
        self.client.page_size = min(self.page_size, max_results)
        return self._query(arxiv.Search(query=query, max_results=max_results + start, sort_by=SORTS[sort]),
                           start, {"q": query, "n": max_results, "start": start, "sort": sort})

    def lookup(self, ids: list[str]) -> list[dict]:
        norm = [normalise_id(i) for i in ids]
        if not norm:
            return []
        self.client.page_size = self.page_size
        return self._query(arxiv.Search(id_list=norm, max_results=len(norm)), 0, {"ids": norm})

    def _query(self, search: arxiv.Search, start: int, cache_key: dict) -> list[dict]:
        key = repr(sorted(cache_key.items()))
        cached = self.cache.get("arxiv-search", key, max_age_s=SEARCH_MAX_AGE_S)
        if cached is not None:
            return cached
        papers = self._with_retries(lambda: [to_paper(r) for r in self.client.results(search, offset=start)])
        self.cache.put("arxiv-search", key, papers)
        for paper in papers:
            self.cache.put("paper", paper["id"], paper)
        return papers

    def _with_retries(self, fn: Callable[[], T]) -> T:
        try:
            return self.fetcher.call(lambda: self._once(fn))
        except Transient as exc:
            raise ToolError(exc.kind, str(exc), source=self.name) from None

    def _once(self, fn: Callable[[], T]) -> T:
        self.session.bodies = []
        try:
            result = fn()
        except arxiv.HTTPError as exc:
            if exc.status < 500 and exc.status != 429:
                raise ToolError("http", f"arXiv refused the query (HTTP {exc.status}): "
                                        f"{self._error_text() or 'no explanation given'}", source=self.name) from None
            raise Transient("http", f"arXiv API failed with HTTP {exc.status}", self.session.retry_after_s) from None
        except requests.exceptions.ConnectionError as exc:
            # ConnectTimeout is a ConnectionError too: the host is not answering at all.
            raise ToolError("unreachable", f"cannot reach the arXiv API at {self.services.arxiv_api}: "
                                           f"{exc.__class__.__name__}", source=self.name) from None
        except requests.exceptions.Timeout as exc:
            raise Transient("timeout", f"arXiv API timed out: {exc.__class__.__name__}") from None
        except arxiv.UnexpectedEmptyPageError:
            raise Transient("malformed", "arXiv returned an empty page in the middle of the results") from None
        self._check_bodies()
        return result

    def _check_bodies(self) -> None:
        # The package's parser recovers from broken XML silently; a cut-off
        # feed would look like fewer results, so check well-formedness here.
        # A captive portal or proxy page in place of the feed would read as zero results too.
        parser = etree.XMLParser(resolve_entities=False, no_network=True, recover=False)
        for status, body in self.session.bodies:
            head = body[:512].lstrip().lower()
            if head.startswith((b"<!doctype html", b"<html")):
                raise ToolError("malformed", f"unexpected response from arXiv: an HTML page ({len(body)} bytes, "
                                             f"HTTP {status}), not an Atom feed; is a proxy or login page in the "
                                             "way?", source=self.name)
            try:
                root = etree.fromstring(body, parser=parser)
            except etree.XMLSyntaxError as exc:
                raise ToolError("malformed", f"arXiv returned a malformed or truncated feed "
                                             f"({len(body)} bytes, HTTP {status}): {exc}", source=self.name) from None
            if root.tag != ATOM_FEED:
                raise ToolError("malformed", f"unexpected response from arXiv: <{etree.QName(root).localname}> "
                                             f"({len(body)} bytes, HTTP {status}), not an Atom feed",
                                source=self.name)

    def _error_text(self) -> str:
        for _status, body in reversed(self.session.bodies):
            m = re.search(rb"<summary>(.*?)</summary>", body, flags=re.S)
            if m:
                return " ".join(m.group(1).decode("utf-8", "replace").split())
        return ""

    # -- metadata and full text ---------------------------------------------
    def metadata(self, paper_id: str) -> dict | None:
        pid = normalise_id(paper_id)
        cached = self.cache.get("paper", pid)
        if cached is not None:
            return cached
        found = self.lookup([pid])
        return found[0] if found else None

    def full_text(self, paper_id: str) -> dict:
        pid = normalise_id(paper_id)
        cached = self.cache.get("fulltext", pid)
        if cached is not None:
            return cached
        doc, note = None, None
        try:
            data = self.fetcher.get(f"{self.services.arxiv_eprint.rstrip('/')}/{pid}", what=f"e-print of {pid}",
                                    source=self.name)
            doc = fulltext.from_eprint(data, paper_id=pid)
            if doc is None:  # a PDF-only submission: the e-print is the PDF
                doc = fulltext.from_pdf(data, paper_id=pid, max_pages=self.max_pages)
        except ToolError as exc:
            if exc.kind in ("unreachable", "timeout", "too_large", "encrypted"):
                raise
            note = f"LaTeX source unusable ({exc}); text taken from the PDF"
        if doc is None:
            data = self.fetcher.get(f"{self.services.arxiv_pdf.rstrip('/')}/{pid}", what=f"PDF of {pid}",
                                    source=self.name)
            doc = fulltext.from_pdf(data, paper_id=pid, max_pages=self.max_pages)
            if note:
                doc["note"] = note
        self.cache.put("fulltext", pid, doc)
        return doc

    def close(self) -> None:
        self.session.close()
