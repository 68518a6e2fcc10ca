"""The report: the PDF inline (and its pages as images), reviews with scores, integrity findings; run files."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from labcoat.web import files, report_view
from labcoat.web.errors import PageError
from labcoat.web.pages import dash, header

router = APIRouter()


@router.get("/runs/{ref}/report", response_class=HTMLResponse)
def report(request: Request, ref: str) -> HTMLResponse:
    d = dash(request)
    with d.store(ref) as store:
        head = header(store, ref)
        run_dir = store.run_dir
    found = {name: files.find_report_file(run_dir, name) for name in files.REPORT_FILES}
    pages, pdf_error = 0, None
    if found["report.pdf"]:
        try:
            pages = files.pdf_page_count(run_dir / found["report.pdf"])
        except PageError as exc:
            pdf_error = exc.detail
    reviews, reviews_error = files.read_json(run_dir, "reviews.json")
    integrity, integrity_error = files.read_json(run_dir, "integrity.json")
    return d.render("report.html", tab="report", **head, found=found, pages=min(pages, files.MAX_PDF_PAGES),
                    page_total=pages, pdf_error=pdf_error,
                    reviews=report_view.reviews(reviews), reviews_error=reviews_error,
                    integrity=report_view.findings(integrity), integrity_error=integrity_error)


@router.get("/runs/{ref}/report/pages/{number}.png")
def report_page(request: Request, ref: str, number: int) -> Response:
    d = dash(request)
    run_dir = d.run_dir(ref)
    rel = files.find_report_file(run_dir, "report.pdf")
    if rel is None:
        raise PageError(404, "No report yet", "this run has no report.pdf (yet)")
    rendered = files.pdf_page_png(run_dir / rel, number - 1)
    headers = {"Cache-Control": "no-store"}
    if rendered.note:
        headers["X-Labcoat-Note"] = rendered.note
    return Response(rendered.png, media_type="image/png", headers=headers)


@router.get("/runs/{ref}/bundle.zip")
def bundle(request: Request, ref: str) -> Response:
    """The run's reproducibility bundle, made by `labcoat export` on first request (and when the run changed)."""
    from labcoat.bundle.export import default_out, export_run
    from labcoat.errors import LabcoatError

    d = dash(request)
    with d.store(ref) as store:
        info, run_dir = store.info(), store.run_dir
    if info.alive:
        raise PageError(409, "The run is still going", "its bundle is made once it has stopped")
    path = default_out(run_dir, info.id)
    if not path.is_file() or path.stat().st_mtime < info.updated_at:
        try:
            export_run(run_dir, path)
        except LabcoatError as exc:
            raise PageError(500, "No bundle", f"the bundle could not be written: {exc}") from exc
    return files.file_response(path)


@router.get("/runs/{ref}/files/{rel:path}")
def run_file(request: Request, ref: str, rel: str) -> Response:
    d = dash(request)
    return files.file_response(files.inside(d.run_dir(ref), rel))
