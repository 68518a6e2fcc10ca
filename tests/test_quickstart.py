"""README's demo, end to end: examples/quickstart.yaml through all seven phases.

The default suite runs it on the scripted model (loopback provider and arXiv,
real sandbox, real scikit-learn, real LaTeX). `pytest -m local_model` runs it
on the embedded local model and checks what a researcher would: every phase
ended, a compiled report, the integrity report, no network but loopback.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from fastapi.testclient import TestClient

from labcoat.config.loading import load_config
from labcoat.phases import default_workflow
from labcoat.run.runner import create_run, execute
from labcoat.run.services import attach
from labcoat.store import open_store
from labcoat.web import create_app

from tests.support.full_lab import FullLab
from tests.support.lab_services import recorded_arxiv
from tests.support.scripted_provider import OPENAI_WIRE_PRESETS, TEST_KEY, ScriptedProvider
from tests.test_web_support import json_event_lines

QUICKSTART = Path(__file__).resolve().parents[1] / "examples" / "quickstart.yaml"
PHASES = ["literature_review", "plan_formulation", "data_preparation", "running_experiments",
          "results_interpretation", "report_writing", "report_refinement"]


def scripted_overrides(sp: ScriptedProvider, httpserver) -> list[str]:
    sets = [f"services.provider_base_urls.{p}={sp.base_url_openai}" for p in OPENAI_WIRE_PRESETS]
    return sets + ["models.default=openai:gpt-4o-mini",
                   f"services.arxiv_api={httpserver.url_for('/api/query')}", "services.arxiv_delay_s=0",
                   f"services.arxiv_pdf={httpserver.url_for('/pdf')}",
                   f"services.arxiv_eprint={httpserver.url_for('/e-print')}"]


def test_quickstart_end_to_end_on_the_scripted_model(tmp_path, httpserver, fixtures_dir, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
    monkeypatch.setenv("LABCOAT_CACHE_DIR", str(tmp_path / "cache"))
    recorded_arxiv(fixtures_dir, httpserver)
    with ScriptedProvider(FullLab()) as sp:
        config = load_config(QUICKSTART, overrides=scripted_overrides(sp, httpserver))
        run_dir = create_run(config, tmp_path / "run")
        ctx = execute(run_dir, default_workflow, attach=attach)
        assert ctx.failure is None, ctx.failure
    with open_store(run_dir, readonly=True) as store:
        info = store.info()
        assert info.state == "finished", info.message
        names = [a["name"] for a in store.artefacts()]
        results = store.artefact("running_experiments")["data"]
        ends = [e["phase"] for e in store.events(kinds=["phase_end"])]
    assert set(PHASES) <= set(names) and ends[:7] == PHASES
    assert results["metrics"] and results["test_metrics"] and results["figures"]
    report = run_dir / "report"
    assert (report / "report.pdf").is_file() and (report / "integrity.json").is_file()
    integrity = json.loads((report / "integrity.json").read_text())
    assert integrity["ok"], integrity
    text = subprocess.run(["pdftotext", str(report / "report.pdf"), "-"], capture_output=True, text=True,
                          timeout=60, check=True).stdout
    best = next(m for m in results["metrics"] if m["name"] == "accuracy")
    assert f"{best['value']:.4f}"[:5] in text.replace("\n", " ")      # the recorded metric, in the PDF
    assert (run_dir / "README.md").is_file() and (report / "reviews.json").is_file()
    # the dashboard tells this run in sentences, and its search plot has a mark per journal node
    client = TestClient(create_app(tmp_path), base_url="http://127.0.0.1")
    bad, rows = json_event_lines(client, "run")
    assert rows > 50 and not bad, bad[:5]
    search = client.get("/runs/run/plots/search").text
    assert search.count('class="pt ') == len(results["journal"]) > 0


@pytest.mark.local_model
@pytest.mark.timeout(3600)  # a whole run on a CPU model: ~16 min on 2 idle cores
def test_quickstart_on_the_embedded_local_model(tmp_path, monkeypatch):
    """The README's first command, as a researcher without a key or network would run it."""
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "DEEPSEEK_API_KEY", "GEMINI_API_KEY", "OPENROUTER_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LABCOAT_CACHE_DIR", str(tmp_path / "cache"))
    # No network: arXiv and the Hub are dead addresses, so the run must take its offline paths.
    config = load_config(QUICKSTART, overrides=["services.arxiv_api=http://127.0.0.1:9/api/query",
                                                "services.hf_endpoint=http://127.0.0.1:9",
                                                "services.connect_timeout_s=1"])
    run_dir = create_run(config, tmp_path / "run")
    execute(run_dir, default_workflow, attach=attach)
    with open_store(run_dir, readonly=True) as store:
        info = store.info()
        assert info.state == "finished", info.message
        ends = [e["phase"] for e in store.events(kinds=["phase_end"])]
    assert set(PHASES) <= set(ends)
    assert (run_dir / "report" / "report.pdf").is_file() and (run_dir / "report" / "integrity.json").is_file()


@pytest.mark.local_model
@pytest.mark.timeout(7200)  # a run up to its experiments, then the resumed rest
def test_quickstart_killed_mid_experiments_resumes_without_rebilling(tmp_path):
    """SIGKILL the local-model quickstart during the experiments; `labcoat resume` finishes it and no
    model call that was already made is made again (no tokens billed twice)."""
    import os
    import signal
    import sys
    import time

    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(LABCOAT_RUNS=str(tmp_path / "runs"), LABCOAT_CACHE_DIR=str(tmp_path / "cache"))
    offline = ["--set", "services.arxiv_api=http://127.0.0.1:9/api/query", "--set",
               "services.hf_endpoint=http://127.0.0.1:9", "--set", "services.connect_timeout_s=1"]
    run_dir = tmp_path / "run"
    child = subprocess.Popen([sys.executable, "-m", "labcoat", "run", str(QUICKSTART), "--run-dir", str(run_dir),
                              *offline], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 3600
        while time.monotonic() < deadline and child.poll() is None:
            if (run_dir / "run.db").exists():
                with open_store(run_dir, readonly=True) as store:
                    if store.effect_count("exec") >= 2 and any(
                            e["phase"] == "running_experiments" for e in store.events(kinds=["phase_start"])):
                        break
            time.sleep(2)
        assert child.poll() is None, "the run ended before the experiments could be interrupted"
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
    with open_store(run_dir, readonly=True) as store:
        billed_before = {r["effect_key"] for r in store.ledger()}
    resumed = subprocess.run([sys.executable, "-m", "labcoat", "resume", str(run_dir)], env=env,
                             capture_output=True, text=True, timeout=3600)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    with open_store(run_dir, readonly=True) as store:
        assert store.info().state == "finished"
        superseded = store.db.execute("SELECT COUNT(*) FROM effects_superseded WHERE kind IN ('llm', 'exec')"
                                      ).fetchone()[0]
        billed_after = [r["effect_key"] for r in store.ledger()]
    assert superseded == 0                                     # nothing recorded ran again
    assert billed_before <= set(billed_after) and len(billed_after) == len(set(billed_after))
