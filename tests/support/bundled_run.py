"""A whole scripted run, made once, to export and reproduce (tests and benchmarks only)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from pytest_httpserver import HTTPServer

from tests.support.full_lab import FullLab
from tests.support.lab_services import recorded_arxiv
from tests.support.scripted_provider import OPENAI_WIRE_PRESETS, TEST_KEY, ScriptedProvider

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart.yaml"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def full_run(run_dir: Path, cache_dir: Path) -> float:
    """Run the quickstart on the scripted lab into `run_dir`; returns its wall-clock seconds."""
    from labcoat.config.loading import load_config
    from labcoat.phases import default_workflow
    from labcoat.run.runner import create_run, execute
    from labcoat.run.services import attach

    saved = {k: os.environ.get(k) for k in ("OPENAI_API_KEY", "LABCOAT_CACHE_DIR")}
    os.environ.update(OPENAI_API_KEY=TEST_KEY, LABCOAT_CACHE_DIR=str(cache_dir))
    server = HTTPServer()
    server.start()
    try:
        recorded_arxiv(FIXTURES, server)
        start = time.perf_counter()
        with ScriptedProvider(FullLab()) as sp:
            overrides = [f"services.provider_base_urls.{p}={sp.base_url_openai}" for p in OPENAI_WIRE_PRESETS]
            overrides += ["models.default=openai:gpt-4o-mini", f"services.arxiv_api={server.url_for('/api/query')}",
                          "services.arxiv_delay_s=0", f"services.arxiv_pdf={server.url_for('/pdf')}",
                          f"services.arxiv_eprint={server.url_for('/e-print')}"]
            ctx = execute(create_run(load_config(QUICKSTART, overrides=overrides), run_dir), default_workflow,
                          attach=attach)
        if ctx.failure is not None:
            raise RuntimeError(f"the scripted run failed: {ctx.failure}")
        return time.perf_counter() - start
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
