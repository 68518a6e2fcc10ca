"""Page images under a pixel budget, each rendered in a child process of its own."""

from __future__ import annotations

import struct

import pypdfium2 as pdfium
import pytest
from fastapi.testclient import TestClient

from labcoat.pdf_pages import MAX_PIXELS
from labcoat.web import create_app
from tests.test_web_support import finished_run

pytestmark = pytest.mark.timeout(120)


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", png[16:24])


@pytest.fixture
def client(tmp_path):
    root = tmp_path / "runs"
    run_dir = finished_run(root, "r", turns=0, nodes=1)
    pdf = pdfium.PdfDocument.new()
    pdf.new_page(14400, 14400)  # the largest page PDF allows, as a model once wrote
    pdf.new_page(612, 792)
    pdf.new_page(60000, 60000)
    report = next(p for p in (run_dir / "report.pdf", run_dir / "report" / "report.pdf") if p.parent.is_dir())
    pdf.save(str(report))
    return TestClient(create_app(root), base_url="http://127.0.0.1:8765")


def test_a_huge_page_is_scaled_into_the_budget_and_says_so(client):
    resp = client.get("/runs/r/report/pages/1.png")
    assert resp.status_code == 200
    width, height = _png_size(resp.content)
    assert width * height <= MAX_PIXELS and width > 1000
    assert "scaled down" in resp.headers["x-labcoat-note"]
    normal = client.get("/runs/r/report/pages/2.png")
    assert _png_size(normal.content) == (918, 1188) and "x-labcoat-note" not in normal.headers
    refused = client.get("/runs/r/report/pages/3.png")
    assert refused.status_code == 422 and "too large to show as an image" in refused.text
