"""PDF pages as images for the dashboard, each in a child process under a pixel budget.

A model writes the report, so a page may be 14400 pt wide, or the PDF may
be built to make pdfium work hard. Each look at a PDF runs in a child
process of its own (`python -m labcoat.pdf_pages`): pdfium is not
thread-safe, so in-process rendering needed a lock that held every other
page image back; now nothing is shared and nothing waits on a lock. The
child has an address-space limit and a timeout, reads the file as untrusted
input, and renders each page scaled to at most `MAX_PIXELS` (a page that
would fall below `MIN_SCALE` is refused with a note instead).
"""

from __future__ import annotations

import io
import json
import math
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

MAX_PIXELS = 4_000_000  # about 1650 x 2400: a letter page at 200 dpi
MIN_SCALE = 0.05
MAX_PDF_BYTES = 200 * 1024 * 1024
CHILD_MEMORY = 1536 * 1024 * 1024
CHILD_TIMEOUT_S = 30.0


class RenderError(Exception):
    def __init__(self, status: int, title: str, detail: str):
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail


@dataclass
class Rendered:
    png: bytes
    note: str = ""  # e.g. that the page was scaled down to fit the budget


def budget_scale(width_pt: float, height_pt: float, wanted: float) -> float:
    """The scale for a page of this size: `wanted`, or less so the image stays within MAX_PIXELS."""
    area = max(width_pt, 1.0) * max(height_pt, 1.0)
    return min(wanted, math.sqrt(MAX_PIXELS / area))


def _child(args: list[str]) -> bytes:
    proc = subprocess.run([sys.executable, "-m", "labcoat.pdf_pages", *args], capture_output=True,
                          timeout=CHILD_TIMEOUT_S, check=False)
    if proc.returncode != 0:
        try:
            problem = json.loads(proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1])
        except (ValueError, IndexError):
            problem = {"status": 422, "title": "Unreadable PDF",
                       "detail": f"rendering stopped (exit status {proc.returncode}): the PDF may be too demanding"}
        raise RenderError(problem["status"], problem["title"], problem["detail"])
    return proc.stdout


def page_count(path: Path) -> int:
    try:
        return int(_child(["count", str(path)]))
    except subprocess.TimeoutExpired as exc:
        raise RenderError(422, "Unreadable PDF", f"{path.name} took too long to open") from exc


def page_png(path: Path, page: int, scale: float, max_pages: int) -> Rendered:
    try:
        out = _child(["page", str(path), str(page), str(scale), str(max_pages)])
    except subprocess.TimeoutExpired as exc:
        raise RenderError(422, "Page not rendered", f"page {page + 1} of {path.name} took longer than "
                                                   f"{CHILD_TIMEOUT_S:g} s to render") from exc
    head, _, png = out.partition(b"\n")
    return Rendered(png=png, note=json.loads(head).get("note", ""))


# -- the child ---------------------------------------------------------------------


def _open(path: str):
    import pypdfium2 as pdfium

    from labcoat.untrusted import UntrustedFileError, read_bytes

    try:
        data = read_bytes(path, MAX_PDF_BYTES)
    except (OSError, UntrustedFileError) as exc:
        raise RenderError(422, "Unreadable PDF", f"{Path(path).name} cannot be read: {exc}") from exc
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise RenderError(422, "Unreadable PDF", f"{Path(path).name} is not a readable PDF: {exc}") from exc


def _render(path: str, page: int, scale: float, max_pages: int) -> bytes:
    pdf = _open(path)
    name = Path(path).name
    if not 0 <= page < min(len(pdf), max_pages):
        raise RenderError(404, "No such page", f"{name} has {len(pdf)} pages; page {page + 1} is not shown")
    width, height = pdf[page].get_size()
    fitted = budget_scale(width, height, scale)
    if fitted < MIN_SCALE:
        raise RenderError(422, "Page too large", f"page {page + 1} of {name} is {width:.0f} x {height:.0f} pt, "
                                                 "too large to show as an image; open the PDF itself")
    note = ""
    if fitted < scale:
        note = f"page {page + 1} is {width:.0f} x {height:.0f} pt; shown scaled down to fit the image budget"
    image = pdf[page].render(scale=fitted).to_pil()
    out = io.BytesIO()
    image.save(out, format="PNG")
    return json.dumps({"note": note}).encode() + b"\n" + out.getvalue()


def main(argv: list[str]) -> int:
    # Set here, in the child, not by preexec_fn: the dashboard that starts it runs threads.
    resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY, CHILD_MEMORY))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:
        if argv[0] == "count":
            sys.stdout.write(str(len(_open(argv[1]))))
        else:
            sys.stdout.buffer.write(_render(argv[1], int(argv[2]), float(argv[3]), int(argv[4])))
    except RenderError as exc:
        print(json.dumps({"status": exc.status, "title": exc.title, "detail": exc.detail}), file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
