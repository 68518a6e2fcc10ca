"""ResearchTools: the one object phases use for literature and datasets (``ctx.tools``).

Every call that takes a `key` is a memoised effect (kind "tool"): a replayed
run gets the recorded answer and touches no network. Failures an agent should
hear about come back as ``{"error": ..., "kind": ...}`` and are recorded too.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Callable, Protocol, runtime_checkable

from labcoat.errors import ConfigError, LabcoatError, RunPaused, StoreError
from labcoat.tools import bibtex as bib
from labcoat.tools import fulltext, pdftext
from labcoat.tools.cache import DiskCache, default_cache_dir
from labcoat.tools.errors import ToolError

SOURCES = ("arxiv", "library", "archive")


def as_tool_error(exc: LabcoatError, source: str | None) -> dict | None:
    """A tool's failure as data for the agent; None for errors that must stop or pause the run."""
    if isinstance(exc, (RunPaused, ConfigError, StoreError)):
        return None
    if isinstance(exc, ToolError):
        return exc.as_result()
    # A plugged-in source's own deliberate error.
    return {"error": str(exc), "kind": getattr(exc, "kind", "source"), "source": source}


@runtime_checkable
class LiteratureSource(Protocol):
    """What a literature source offers. `full_text` returns a document:
    {"paper_id", "title", "sections": [{"name", "text"}]}; or {"sections": [names], "text"}
    when the source also takes `full_text(paper_id, section=name)`; or just {"text"}, split here."""

    name: str

    def search(self, query: str, *, max_results: int = 5) -> list[dict]: ...

    def full_text(self, paper_id: str) -> dict: ...

    def metadata(self, paper_id: str) -> dict | None: ...


class ResearchTools:
    def __init__(self, config: Any, effects: Any = None, *, cache_dir: Path | None = None,
                 sources: dict[str, LiteratureSource] | None = None, page_size: int = 100,
                 retries: int = 2, backoff_s: float = 1.0, max_pages: int = pdftext.MAX_PAGES):
        self.config = config
        self.effects = effects
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.page_size = page_size
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_pages = max_pages
        self._sources: dict[str, LiteratureSource] = dict(sources or {})
        self._papers: dict[str, dict] = {}
        self._bib_keys: dict[str, Any] = {}
        self._cache: DiskCache | None = None
        self._fetcher = None
        self._hf = None

    # -- plumbing -------------------------------------------------------------
    @property
    def cache(self) -> DiskCache:
        if self._cache is None:
            self._cache = DiskCache(self.cache_dir / "tools.db")
        return self._cache

    @property
    def fetcher(self):
        if self._fetcher is None:
            from labcoat.tools.http import Fetcher

            s = self.config.services
            self._fetcher = Fetcher(connect_timeout_s=s.connect_timeout_s, read_timeout_s=s.read_timeout_s,
                                    delay_s=s.arxiv_delay_s, retries=self.retries, backoff_s=self.backoff_s)
        return self._fetcher

    def source(self, name: str) -> LiteratureSource:
        if name in self._sources:
            return self._sources[name]
        if name == "arxiv":
            from labcoat.tools.arxiv_source import ArxivSource

            src: LiteratureSource = ArxivSource(self.config.services, self.cache, self.fetcher,
                                                page_size=self.page_size, max_pages=self.max_pages)
        elif name == "library":
            folder = self.config.library.path
            if folder is None:
                raise ToolError("bad_input", "no local paper library is configured (set library.path)",
                                source="library")
            from labcoat.tools.library import LocalLibrary

            digest = hashlib.sha256(str(Path(folder).expanduser().resolve()).encode()).hexdigest()[:16]
            src = LocalLibrary(Path(folder), self.cache_dir / f"library-{digest}.db", max_pages=self.max_pages)
        elif name == "archive":
            raise ToolError("bad_input", "no paper archive is configured (set archive.url)", source="archive")
        else:
            raise ToolError("bad_input", f"unknown literature source '{name}' (use {', '.join(SOURCES)} or all)")
        self._sources[name] = src
        return src

    def available_sources(self) -> list[str]:
        names = ["arxiv"]
        if self.config.library.path is not None or "library" in self._sources:
            names.append("library")
        if "archive" in self._sources:
            names.append("archive")
        return names

    def _effect(self, key: str | None, request: dict, fn: Callable[[], Any]) -> Any:
        def guarded() -> Any:
            try:
                return fn()
            except LabcoatError as exc:
                result = as_tool_error(exc, request.get("source"))
                if result is None:
                    raise
                return result

        if self.effects is None or key is None:
            return guarded()
        return self.effects.run("tool", key, request, guarded)

    # -- literature -----------------------------------------------------------
    def search(self, key: str | None, query: str, *, source: str = "arxiv", max_results: int = 5,
               start: int = 0, sort: str = "relevance") -> dict:
        request = {"tool": "search", "query": query, "source": source, "max_results": max_results}
        if start or sort != "relevance":
            request.update(start=start, sort=sort)
        result = self._effect(key, request, lambda: self._search(query, source, max_results, start, sort))
        for paper in result.get("papers", []):
            self._papers[paper["id"]] = paper
        return result

    def _search(self, query: str, source: str, max_results: int, start: int, sort: str) -> dict:
        if source != "all":
            src = self.source(source)
            if source == "arxiv":
                papers = src.search(query, max_results=max_results, start=start, sort=sort)
            else:
                papers = src.search(query, max_results=max_results)
            return {"papers": papers, "source": source}
        papers, unavailable, errors = [], [], []
        for name in self.available_sources():
            try:
                papers.extend(self.source(name).search(query, max_results=max_results))
            except LabcoatError as exc:
                failed = as_tool_error(exc, name)
                if failed is None:
                    raise
                errors.append(f"{name}: {exc}")
                if failed["kind"] in ("unreachable", "timeout"):
                    unavailable.append(name)
        if errors and not papers and len(errors) == len(self.available_sources()):
            kind = "unreachable" if len(unavailable) == len(errors) else "source"
            return {"error": "; ".join(errors), "kind": kind, "source": "all", "unavailable": unavailable}
        seen, unique = set(), []
        for p in papers:
            if p["id"] not in seen:
                seen.add(p["id"])
                unique.append(p)
        out = {"papers": unique, "source": "all", "unavailable": unavailable}
        if errors:
            out["errors"] = errors
        return out

    def _route(self, paper_id: str) -> str:
        known = self._papers.get(paper_id)
        if known:
            return known.get("source", "arxiv")
        if paper_id.startswith("lib:"):
            return "library"
        from labcoat.tools.arxiv_source import ID_RE

        if ID_RE.match(paper_id.strip()) or "arxiv.org/" in paper_id:
            return "arxiv"
        return "archive" if "archive" in self._sources else "arxiv"

    def full_text(self, key: str | None, paper_id: str, *, section: str | None = None,
                  max_chars: int = fulltext.DEFAULT_MAX_CHARS, chunk: int = 0) -> dict:
        request = {"tool": "full_text", "paper_id": paper_id, "section": section, "max_chars": max_chars}
        if chunk:
            request["chunk"] = chunk

        def fetch() -> dict:
            name = self._route(paper_id)
            src = self.source(name)
            doc = {"paper_id": paper_id, **src.full_text(paper_id)}
            sections = doc.get("sections")
            if sections and all(isinstance(s, dict) for s in sections):
                out = fulltext.select(doc, section, max_chars=max_chars, chunk=chunk)
            elif sections:
                # A source that serves one named section at a time (the archive).
                names = [str(s) for s in sections]
                part = src.full_text(paper_id, section=section) if section else doc
                out = fulltext.cut(doc, names, part.get("section") if section else None, part.get("text", ""),
                                   max_chars=max_chars, chunk=chunk)
            else:
                doc["sections"] = pdftext.split_sections(pdftext.normalise(doc.get("text", "")))
                out = fulltext.select(doc, section, max_chars=max_chars, chunk=chunk)
            return {**out, "source": name}

        return self._effect(key, request, fetch)

    def text_of_file(self, path: Path, *, section: str | None = None,
                     max_chars: int = fulltext.DEFAULT_MAX_CHARS, chunk: int = 0) -> dict:
        """Full text of a local PDF (no run, no effect): for `labcoat lit text FILE.pdf`."""
        def read() -> dict:
            try:
                data = Path(path).read_bytes()
            except OSError as exc:
                raise ToolError("bad_input", f"cannot read {path}: {exc.strerror or exc}") from None
            doc = fulltext.from_pdf(data, paper_id=str(path), max_pages=self.max_pages, what=str(path))
            return fulltext.select(doc, section, max_chars=max_chars, chunk=chunk)

        return self._effect(None, {}, read)

    def paper(self, paper_id: str) -> dict | None:
        """Metadata of a paper retrieved earlier in this run (no network)."""
        if paper_id in self._papers:
            return self._papers[paper_id]
        return self.cache.get("paper", paper_id)

    def lookup(self, key: str | None, paper_ids: list[str]) -> dict:
        """arXiv metadata for known ids (``labcoat lit bib``)."""
        def fetch() -> dict:
            return {"papers": self.source("arxiv").lookup(list(paper_ids)), "source": "arxiv"}

        result = self._effect(key, {"tool": "lookup", "ids": list(paper_ids)}, fetch)
        for paper in result.get("papers", []):
            self._papers[paper["id"]] = paper
        return result

    def bibtex(self, paper: dict) -> str:
        """The paper's entry; a key another paper of this run already has gets a letter (smith2020deep-b)."""
        key = bib.cite_key(paper)
        unique, n = key, 1
        while self._bib_keys.setdefault(unique, paper.get("id")) != paper.get("id"):
            n += 1
            unique = f"{key}-{chr(ord('a') + n - 1)}"
        return bib.entry(paper, key=unique)

    # -- datasets ---------------------------------------------------------------
    @property
    def hf(self):
        if self._hf is None:
            from labcoat.tools.hf import HFDatasets

            s = self.config.services
            self._hf = HFDatasets(s.hf_endpoint, connect_timeout_s=s.connect_timeout_s,
                                  read_timeout_s=s.read_timeout_s)
        return self._hf

    def hf_search(self, key: str | None, query: str, *, limit: int = 5, sort: str = "downloads",
                  filters: list[str] | None = None) -> dict:
        request = {"tool": "hf_search", "query": query, "limit": limit, "sort": sort, "filters": filters}
        return self._effect(key, request, lambda: {
            "datasets": self.hf.search(query, limit=limit, sort=sort, filters=filters), "query": query})

    def hf_info(self, key: str | None, dataset_id: str) -> dict:
        return self._effect(key, {"tool": "hf_info", "dataset_id": dataset_id}, lambda: self.hf.info(dataset_id))

    def prefetch(self, key: str | None, dataset_id: str, dest_dir: str) -> dict:
        request = {"tool": "prefetch", "dataset_id": dataset_id, "dest_dir": str(dest_dir)}

        def fetch() -> dict:
            try:
                return self.hf.prefetch(dataset_id, dest_dir)
            except ToolError as exc:
                return exc.as_result()

        if self.effects is None or key is None:
            return fetch()
        hit = self.effects.lookup("tool", key, request)
        # A recorded download whose files are gone must run again, or the
        # experiments would read nothing.
        if hit is not None and ("error" in hit.result or Path(hit.result.get("path", "")).is_dir()):
            return hit.result
        result = fetch()
        self.effects.record("tool", key, request, result)
        return result

    def close(self) -> None:
        for src in self._sources.values():
            close = getattr(src, "close", None)
            if callable(close):
                close()
        if self._fetcher is not None:
            self._fetcher.close()
        if self._cache is not None:
            self._cache.close()
