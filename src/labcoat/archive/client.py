"""ArchiveClient: the archive over HTTP, as a literature source and as the place a run publishes to.

As a literature source it answers like the others: `search`, `metadata` and
`full_text` return paper dicts with `source: "archive"`. Every failure is an
`ArchiveError` (a `ToolError`, so the research tools hand it to the agent as
data) saying what failed and at which URL. The token comes from the argument or
LABCOAT_ARCHIVE_TOKEN and travels only in the Authorization header.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import httpx

from labcoat.tools.errors import ToolError

TOKEN_ENV = "LABCOAT_ARCHIVE_TOKEN"
KIND_BY_STATUS = {400: "bad_input", 401: "http", 404: "not_found", 413: "too_large", 415: "bad_input",
                  422: "bad_input"}


class ArchiveError(ToolError):
    """The archive could not be reached or refused a request; `status` is the HTTP status if any."""

    def __init__(self, kind: str, message: str, *, status: int | None = None):
        self.status = status
        super().__init__(kind, message, source="archive")


class ArchiveClient:
    name = "archive"

    def __init__(self, url: str, token: str | None = None, timeout: float = 30.0, *,
                 transport: httpx.BaseTransport | None = None):
        if not url.startswith(("http://", "https://")):
            raise ArchiveError("bad_input", f"archive URL must start with http:// or https://, got {url!r}")
        self.url = url.rstrip("/")
        token = token if token is not None else os.environ.get(TOKEN_ENV) or None
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, transport=transport)

    # -- transport -----------------------------------------------------------
    def _request(self, method: str, path: str, what: str, **kwargs) -> httpx.Response:
        where = f"{self.url}{path}"
        try:
            resp = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise ArchiveError("timeout", f"{what}: the archive at {self.url} did not answer in time "
                                          f"({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise ArchiveError("unreachable", f"{what}: the archive at {self.url} is unreachable ({exc}); is "
                                              f"`labcoat archive serve` running there?") from None
        if resp.status_code >= 400:
            raise ArchiveError(KIND_BY_STATUS.get(resp.status_code, "http"),
                               f"{what}: the archive refused {method} {where} with HTTP {resp.status_code}: "
                               f"{_server_message(resp)}", status=resp.status_code)
        return resp

    def _json(self, method: str, path: str, what: str, **kwargs) -> dict:
        resp = self._request(method, path, what, **kwargs)
        try:
            data = resp.json()
        except ValueError:
            raise ArchiveError("malformed", f"{what}: {self.url}{path} answered with something other than JSON "
                                            f"({resp.headers.get('content-type', 'no content type')}); "
                                            f"is that a labcoat archive?") from None
        if not isinstance(data, dict):
            raise ArchiveError("malformed", f"{what}: {self.url}{path} answered with a JSON {type(data).__name__}")
        return data

    # -- publishing ----------------------------------------------------------
    def upload(self, metadata: dict, *, tex: bytes, pdf: bytes | None = None, bib: bytes | None = None) -> str:
        files = {kind: base64.b64encode(data).decode("ascii")
                 for kind, data in (("tex", tex), ("pdf", pdf), ("bib", bib)) if data is not None}
        data = self._json("POST", "/papers", f"uploading '{metadata.get('title', '?')}'",
                          json={"metadata": metadata, "files": files})
        return str(data["id"])

    def publish(self, pdf_path: Path | None, tex_path: Path, bib_path: Path | None, metadata: dict) -> str:
        """Upload a finished report's files; returns its id (e.g. 'archive:000123')."""
        def read(path: Path | None, what: str) -> bytes | None:
            if path is None:
                return None
            try:
                return Path(path).read_bytes()
            except OSError as exc:
                raise ArchiveError("bad_input", f"cannot read the report's {what} at {path}: {exc}") from None

        return self.upload(metadata, tex=read(tex_path, "LaTeX source"), pdf=read(pdf_path, "PDF"),
                           bib=read(bib_path, "bibliography"))

    # -- reading -------------------------------------------------------------
    def info(self) -> dict:
        return self._json("GET", "/", "reading the archive's status")

    def list(self, limit: int = 50, offset: int = 0) -> dict:
        """{"total", "papers": [record]} newest first."""
        return self._json("GET", "/papers", "listing papers", params={"limit": limit, "offset": offset})

    def fetch(self, paper_id: str) -> dict:
        """The stored record: metadata, metrics, files, section names."""
        return self._json("GET", f"/papers/{paper_id}", f"fetching {paper_id}")

    def file(self, paper_id: str, kind: str) -> bytes:
        return self._request("GET", f"/papers/{paper_id}/files/{kind}", f"downloading the {kind} of {paper_id}").content

    def health(self) -> dict:
        """{"status": "ok", "papers", "semantic": None or {"model", "state", "error"}}."""
        return self._json("GET", "/health", "checking the archive's health")

    def search_answer(self, query: str, max_results: int = 5, *, mode: str = "auto") -> dict:
        """{"mode": the mode that answered, "requested", "note", "papers"}.

        `note` is set when the archive answered otherwise than asked, e.g. full
        text while its embedding model is still loading or failed to load.
        """
        data = self._json("GET", "/search", f"searching for '{query}'",
                          params={"q": query, "limit": max(1, int(max_results)), "mode": mode})
        papers = [{**self.to_paper(r), "score": r.get("score"), "snippet": r.get("snippet")}
                  for r in data.get("results", [])]
        return {"mode": data.get("mode"), "requested": data.get("requested", mode), "note": data.get("note"),
                "papers": papers}

    def search(self, query: str, max_results: int = 5, *, mode: str = "auto") -> list[dict]:
        """Papers best first, as a literature source. When the archive answered otherwise than asked (full
        text while its embedding model loads), each paper carries `search_mode` and `search_note` saying so."""
        answer = self.search_answer(query, max_results, mode=mode)
        if not answer["note"]:
            return answer["papers"]
        extra = {"search_mode": answer["mode"], "search_note": answer["note"]}
        return [{**paper, **extra} for paper in answer["papers"]]

    def metadata(self, paper_id: str) -> dict:
        return self.to_paper(self.fetch(paper_id))

    def full_text(self, paper_id: str, section: str | None = None) -> dict:
        """{"paper_id", "title", "format", "sections": [names], "section", "text"} from the .tex."""
        params = {"section": section} if section else {}
        return self._json("GET", f"/papers/{paper_id}/text", f"reading {paper_id}", params=params)

    def to_paper(self, record: dict) -> dict:
        """A stored record as the paper dict every literature source returns."""
        number = int(record["number"])
        url = f"{self.url}/papers/{number:06d}"
        files = record.get("files") or {}
        return {
            "id": record["id"], "version": None, "title": record["title"], "authors": [record["lab"]],
            "abstract": record["abstract"], "published": record.get("created"), "updated": None,
            "categories": [], "primary_category": None,
            "comment": f"labcoat run {record['run_id']} of lab {record['lab']}; topic: {record['topic']}",
            "journal_ref": None, "doi": None, "url": url,
            "pdf_url": f"{url}/files/pdf" if "pdf" in files else None,
            "source": "archive", "bibtex_note": f"labcoat archive {url}",
            "metrics": record.get("metrics") or {}, "lab": record["lab"], "run_id": record["run_id"],
            "topic": record["topic"],
        }

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "ArchiveClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _server_message(resp: httpx.Response) -> str:
    try:
        data = resp.json()
    except ValueError:
        return resp.text[:300] or resp.reason_phrase
    if isinstance(data, dict):
        if "error" in data:
            return str(data["error"])
        if "detail" in data:  # FastAPI's own validation errors
            detail = data["detail"]
            if isinstance(detail, list):
                return "; ".join(f"{'.'.join(str(p) for p in d.get('loc', []))}: {d.get('msg')}" for d in detail)
            return str(detail)
    return str(data)[:300]
