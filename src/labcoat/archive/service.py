"""The archive's HTTP API (FastAPI): upload, list, fetch, files, full text, search.

    GET  /                       what this archive holds
    GET  /health                 "ok", and whether semantic search is loading, ready or failed (and why)
    POST /papers                 upload (JSON body, see labcoat.archive.validate) -> 201 {"id"}
    GET  /papers?limit&offset    newest first
    GET  /papers/{id}            one paper's record
    GET  /papers/{id}/files/{k}  k = pdf | tex | bib
    GET  /papers/{id}/text       sections of the LaTeX source (?section=NAME for one)
    GET  /search?q&limit&mode    mode = auto | fts | semantic; ranked, with snippets. The answer's
                                 `mode` is the one that answered: until the embedding model is
                                 loaded (see labcoat.archive.semantic) a semantic search is answered
                                 by full text, with a `note` saying so and why
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from labcoat.archive import embed
from labcoat.access import AccessGuard, Service
from labcoat.archive.semantic import SemanticIndex
from labcoat.archive.store import ArchiveStore, parse_id
from labcoat.archive.validate import Limits, UploadRejected, parse_upload
from labcoat.tools.fulltext import find_section

MEDIA = {"pdf": "application/pdf", "tex": "text/x-tex; charset=utf-8", "bib": "text/x-bibtex; charset=utf-8"}
MAX_LIMIT = 200


def _error(status: int, message: str, **extra) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


class Archive:
    """The service's state: the store, the upload limits and, with an embedder, the semantic index."""

    def __init__(self, store: ArchiveStore, limits: Limits, embedder: embed.Embedder | None):
        self.store = store
        self.limits = limits
        self.semantic = SemanticIndex(store, embedder) if embedder is not None else None

    def start(self) -> None:
        """Begin loading the embedding model in the background; no request waits for it."""
        if self.semantic is not None:
            self.semantic.start()

    def upload(self, body: bytes) -> dict:
        upload = parse_upload(body, self.limits)
        if self.semantic is None:
            return self.store.add(upload)
        meta = upload.metadata
        vector = self.semantic.vector_for(meta["title"].strip(), meta["abstract"].strip())
        record = self.store.add(upload, vector=vector, model=self.semantic.embedder.model)
        if vector is None:
            self.semantic.catch_up()
        return record

    def search(self, q: str, limit: int, requested: str) -> dict:
        """{"mode": the mode that answered, "requested", "note": why it differs (or None), "results"}."""
        mode = requested
        if mode == "auto":
            mode = "semantic" if self.semantic is not None else "fts"
        if mode == "semantic" and self.semantic is None:
            raise UploadRejected(400, "mode", "this archive has no embeddings; start it with the `embed` extra "
                                              "installed (and --embeddings auto|on), or search with mode=fts")
        note = self.semantic.why_not() if mode == "semantic" else None
        if mode == "fts" or note is not None:
            return {"mode": "fts", "requested": requested, "note": note,
                    "results": self.store.search_fts(q, limit=limit)}
        out = []
        for number, score in self.semantic.nearest(q, limit):
            record = self.store.get(number)
            if record is not None:
                out.append({**record, "score": round(score, 4), "snippet": record["abstract"][:300]})
        return {"mode": "semantic", "requested": requested, "note": None, "results": out}

    def semantic_status(self) -> dict | None:
        return self.semantic.status() if self.semantic is not None else None


ARCHIVE = Service("archive", "the one printed by `labcoat archive serve`: send `Authorization: Bearer TOKEN` "
                             "(or ?token=TOKEN), or set LABCOAT_ARCHIVE_TOKEN for the client",
                  json_errors=True, json_writes=True)


def create_app(root: Path, *, token: str | None = None, limits: Limits | None = None,
               embedder: embed.Embedder | None = None) -> FastAPI:
    """The archive app over folder `root`; `token` is required on every request when set."""
    archive = Archive(ArchiveStore(root), limits or Limits(), embedder)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        archive.start()
        yield

    app = FastAPI(title="labcoat archive", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.archive = archive

    def _number(pid: str) -> int | JSONResponse:
        number = parse_id(pid)
        if number is None:
            return _error(400, f"'{pid}' is not an archive id (expected e.g. archive:000123)", field="id")
        return number

    def _missing(pid: str) -> JSONResponse:
        return _error(404, f"no paper {pid} in this archive")

    @app.get("/")
    def info() -> dict:
        return {"service": "labcoat archive", "papers": archive.store.count(),
                "embeddings": embedder.model if embedder else None, "semantic": archive.semantic_status(),
                "limits": {"pdf_bytes": archive.limits.pdf_bytes, "tex_bytes": archive.limits.tex_bytes,
                           "bib_bytes": archive.limits.bib_bytes}}

    @app.get("/health")
    def health() -> dict:
        # "ok" while full-text search works; `semantic` says whether semantic search does, or why not.
        return {"status": "ok", "papers": archive.store.count(), "semantic": archive.semantic_status()}

    @app.post("/papers", status_code=201)
    async def upload(request: Request):
        cap = archive.limits.body_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > cap:
            return _error(413, f"upload of {declared} bytes is larger than the cap of {cap} bytes", field="body")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > cap:
                return _error(413, f"upload is larger than the cap of {cap} bytes", field="body")
            chunks.append(chunk)
        try:
            record = await run_in_threadpool(archive.upload, b"".join(chunks))
        except UploadRejected as exc:
            return _error(exc.status, str(exc), field=exc.field)
        return JSONResponse({"id": record["id"], "paper": record}, status_code=201)

    @app.get("/papers")
    def list_papers(limit: int = Query(50, ge=1, le=MAX_LIMIT), offset: int = Query(0, ge=0)) -> dict:
        return {"total": archive.store.count(), "papers": archive.store.list(limit=limit, offset=offset)}

    @app.get("/papers/{pid}")
    def fetch(pid: str):
        number = _number(pid)
        if isinstance(number, JSONResponse):
            return number
        record = archive.store.get(number)
        return record if record is not None else _missing(pid)

    @app.get("/papers/{pid}/files/{kind}")
    def file(pid: str, kind: str):
        number = _number(pid)
        if isinstance(number, JSONResponse):
            return number
        if kind not in MEDIA:
            return _error(404, f"no file kind '{kind}': use pdf, tex or bib", field="kind")
        if archive.store.get(number) is None:
            return _missing(pid)
        path = archive.store.file_path(number, kind)
        if path is None:
            return _error(404, f"paper {pid} was uploaded without a {kind} file")
        return FileResponse(path, media_type=MEDIA[kind], filename=f"{pid.replace(':', '-')}.{kind}")

    @app.get("/papers/{pid}/text")
    def text(pid: str, section: str | None = None):
        number = _number(pid)
        if isinstance(number, JSONResponse):
            return number
        doc = archive.store.document(number)
        if doc is None:
            return _missing(pid)
        names = [s["name"] for s in doc["sections"]]
        if section:
            found = find_section(doc, section)
            if found is None:
                return _error(404, f"no section '{section}' in {pid}; its sections are: {', '.join(names) or 'none'}",
                              field="section", sections=names)
            chosen, body = found["name"], found["text"]
        else:
            chosen, body = None, "\n\n".join(f"{s['name']}\n{s['text']}" for s in doc["sections"])
        record = archive.store.get(number)
        return {"paper_id": record["id"], "title": record["title"], "format": "latex", "sections": names,
                "section": chosen, "text": body}

    @app.get("/search")
    def search(q: str = Query(..., min_length=1, max_length=2000), limit: int = Query(10, ge=1, le=MAX_LIMIT),
               mode: str = Query("auto", pattern="^(auto|fts|semantic)$")):
        try:
            answer = archive.search(q, limit, mode)
        except UploadRejected as exc:
            return _error(exc.status, str(exc), field=exc.field)
        return {"query": q, **answer}

    app.add_middleware(AccessGuard, token=token, service=ARCHIVE)
    return app
