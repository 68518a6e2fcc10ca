"""Files from a run directory: only inside it, and never as active content.

Experiment programs are written by a model, so anything they leave in the run
directory (an .html, an .svg with script) is untrusted: such files are served
as plain text or under a sandboxing Content-Security-Policy, never as pages of
the dashboard's origin.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.responses import FileResponse, Response

from labcoat import untrusted
from labcoat import pdf_pages
from labcoat.web.errors import PageError

INLINE = {
    ".pdf": "application/pdf", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
    ".gif": "image/gif", ".webp": "image/webp", ".svg": "image/svg+xml",
}
TEXT = {".txt", ".tex", ".bib", ".json", ".csv", ".log", ".py", ".md", ".yaml", ".yml", ".out", ".err", ".tsv"}
REPORT_FILES = ("report.pdf", "report.tex", "references.bib", "reviews.json", "integrity.json")
MAX_PDF_PAGES = 50
MAX_JSON_BYTES = 16 * 1024 * 1024


def inside(run_dir: Path, rel: str) -> Path:
    """The file `rel` names inside `run_dir`, or a 404; symlinks and '..' cannot leave the directory."""
    base = run_dir.resolve()
    if not rel or "\x00" in rel or rel.startswith(("/", "\\")):
        raise PageError(404, "No such file", f"'{rel}' is not a file of this run")
    target = (base / rel).resolve()
    if not target.is_relative_to(base) or target == base:
        raise PageError(404, "No such file", f"'{rel}' is outside this run's directory")
    if target.name == "run.db" or target.name.startswith("run.db-"):
        raise PageError(404, "No such file", "the run store is not served; the pages show its content")
    if not target.is_file():
        raise PageError(404, "No such file", f"'{rel}' does not exist in this run (yet)")
    return target


def file_response(path: Path) -> Response:
    suffix = path.suffix.lower()
    headers = {"X-Content-Type-Options": "nosniff"}
    if suffix == ".pdf":
        # The browser's PDF viewer does not run inside a sandboxed document.
        return FileResponse(path, media_type=INLINE[suffix], headers=headers)
    headers["Content-Security-Policy"] = "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"
    if suffix in INLINE:
        return FileResponse(path, media_type=INLINE[suffix], headers=headers)
    if suffix in TEXT:
        return FileResponse(path, media_type="text/plain; charset=utf-8", headers=headers)
    return FileResponse(path, media_type="application/octet-stream", filename=path.name,
                        headers=headers, content_disposition_type="attachment")


def find_report_file(run_dir: Path, name: str) -> str | None:
    """Where the report phase left `name`: the run dir, or its report/ folder."""
    for rel in (name, f"report/{name}"):
        if (run_dir / rel).is_file():
            return rel
    return None


def read_json(run_dir: Path, name: str) -> tuple[Any, str | None]:
    """(data, error): a missing file is (None, None); an unreadable one says why."""
    rel = find_report_file(run_dir, name)
    if rel is None:
        return None, None
    try:
        return untrusted.read_json(run_dir / rel, MAX_JSON_BYTES, root=run_dir), None
    except (OSError, untrusted.UntrustedFileError) as exc:
        return None, f"{rel} cannot be read: {str(exc).replace(str(run_dir) + '/', '')}"


def pdf_page_count(path: Path) -> int:
    try:
        return pdf_pages.page_count(path)
    except pdf_pages.RenderError as exc:
        raise PageError(exc.status, exc.title, exc.detail) from exc


def pdf_page_png(path: Path, page: int, scale: float = 1.5) -> pdf_pages.Rendered:
    """One page rendered to PNG in a child process, within the pixel budget (see `labcoat.pdf_pages`)."""
    try:
        return pdf_pages.page_png(path, page, scale, MAX_PDF_PAGES)
    except pdf_pages.RenderError as exc:
        raise PageError(exc.status, exc.title, exc.detail) from exc
