"""PDF text extraction speed (pypdfium2 vs pypdf) and tool-cache hit vs miss latency.

Runs offline: the fixture PDFs are read from ../shared/fixtures (or
LABCOAT_FIXTURES) and the "network" is a loopback HTTP server in this process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from labcoat.config.schema import ResearchConfig, ServicesConfig
from labcoat.tools.pdftext import extract_pages
from labcoat.tools.research import ResearchTools

REPO = Path(__file__).resolve().parents[1]


def fixtures() -> Path:
    env = os.environ.get("LABCOAT_FIXTURES")
    for cand in ([Path(env)] if env else []) + [base.parent / "shared" / "fixtures" for base in (REPO, *REPO.parents)]:
        if cand.is_dir():
            return cand
    sys.exit("cannot find ../shared/fixtures; set LABCOAT_FIXTURES")


def pages_per_second(pdfs: list[bytes], engine: str, rounds: int) -> tuple[int, float]:
    best = float("inf")
    pages = 0
    for _ in range(rounds):
        started = time.perf_counter()
        pages = sum(len(extract_pages(data, engine=engine)) for data in pdfs)
        best = min(best, time.perf_counter() - started)
    return pages, pages / best


def serve(fix: Path) -> ThreadingHTTPServer:
    rec = json.loads((fix / "arxiv_api" / "arxivpy_q_testing_s0_m10_bc5a6c384fe9.json").read_text(encoding="utf-8"))
    feed = rec["body"].encode("latin-1")
    pdf = (fix / "pdf" / "hips_neural_fingerprints_arxiv1509.09292.pdf").read_bytes()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            parts = urlsplit(self.path)
            if parts.path == "/api/query" and parse_qs(parts.query).get("search_query") == ["testing"]:
                body, ctype = feed, "application/atom+xml"
            elif parts.path.startswith(("/e-print/", "/pdf/")):
                body, ctype = pdf, "application/pdf"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def cache_latency(fix: Path, rounds: int) -> dict[str, tuple[float, float]]:
    server = serve(fix)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    services = ServicesConfig(arxiv_api=f"{base}/api/query", arxiv_pdf=f"{base}/pdf", arxiv_eprint=f"{base}/e-print",
                              arxiv_delay_s=0)
    config = ResearchConfig(topic="bench", services=services)
    calls = {"search": lambda t: t.search(None, "testing", max_results=10),
             "full_text": lambda t: t.full_text(None, "1509.09292v1", section="Introduction")}
    out: dict[str, tuple[float, float]] = {}
    try:
        for name, call in calls.items():
            miss, hit = [], []
            for _ in range(rounds):
                with tempfile.TemporaryDirectory(prefix="labcoat-bench-") as tmp:
                    for bucket in (miss, hit):  # the first call fills the cache, the second reads it
                        tools = ResearchTools(config, cache_dir=Path(tmp))
                        started = time.perf_counter()
                        result = call(tools)
                        bucket.append(time.perf_counter() - started)
                        tools.close()
                        if "error" in result:
                            sys.exit(f"benchmark call failed: {result}")
            out[name] = (statistics.median(miss), statistics.median(hit))
    finally:
        server.shutdown()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    fix = fixtures()
    pdfs = [p.read_bytes() for p in sorted((fix / "pdf").glob("*.pdf"))]
    n, fast = pages_per_second(pdfs, "pdfium", args.rounds)
    _, slow = pages_per_second(pdfs, "pypdf", args.rounds)
    latency = cache_latency(fix, args.rounds)
    print(f"{'measure':<28}{'value':>12}")
    print(f"{'pages (3 PDFs)':<28}{n:>12}")
    print(f"{'pypdfium2 pages/s':<28}{fast:>12.1f}")
    print(f"{'pypdf pages/s':<28}{slow:>12.1f}")
    for name, (miss, hit) in latency.items():
        print(f"{name + ' miss ms':<28}{miss * 1000:>12.2f}")
        print(f"{name + ' hit ms':<28}{hit * 1000:>12.2f}")
        print(f"{name + ' miss/hit':<28}{miss / hit:>12.1f}")
    print(f"ratio: {fast / slow:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
