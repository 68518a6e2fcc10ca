"""Agent Laboratory's own configs run unchanged, and a key written in one is never stored.

The configs below are shaped exactly like Agent Laboratory's
`experiment_configs/MATH_agentlab.yaml` and `MATH_agentrxiv.yaml` (same keys,
comments and value types; smaller budgets). They run through the real
`labcoat` command in a child process with no terminal, against the scripted
provider and recorded arXiv feeds on loopback (reached through the
environment, so the files stay as a user would have them).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from labcoat.config.agentlab import key_shaped
from labcoat.config.loading import config_from_mapping, load_config
from labcoat.store import open_store
from labcoat.web import create_app

from tests.support.full_lab import FullLab
from tests.support.lab_services import recorded_arxiv
from tests.support.scripted_provider import KEY_VARS, TEST_KEY, ScriptedProvider

LABCOAT = Path(sys.executable).with_name("labcoat")
# Key-shaped like an OpenAI project key; it must never be written anywhere.
CANARY = "sk-proj-CaNaRy7Q2w9Xk4Lm8Np3Rt6Vz1Bc5Df0Gh"

MATH_AGENTLAB = """\
# If you want to have user input or be a human-in-the-loop
copilot-mode: True

# Here is the research prompt. If num-papers-to-write > 1, you can treat this as a "research direction"
research-topic: "Design prompting techniques that raise a small model's accuracy on the MATH-500 test questions."

# Here you can put your OpenAI API key--if you don't have one or OpenAI doesn't work for you, you can also instead use `deepseek-api-key`
api-key: "{key}"
# or deepseek-api-key: "DEEPSEEK-API-KEY-HERE"
# Agent Laboratory backend
llm-backend: "gpt-4o-mini"
# Literature review backend
lit-review-backend: "gpt-4o-mini"

# Base language
language: "English"

# Number of arxiv papers to lit review
num-papers-lit-review: 1
# Total number of papers to write in sequence
num-papers-to-write: 1
# Do you want to run multiple agent labs in parallel?
parallel-labs: False

# Total mle-solver steps per lab
mlesolver-max-steps: 1
# Total paper-solver steps per lab
papersolver-max-steps: 1
# The lab index for this lab (used for parallel runs)
lab-index: 1
# If you want to load an existing save
load-existing: False
# If fail, run exception?
except-if-fail: False
# Compile latex into PDFs during paper-solver
compile-latex: False

# Task notes
task-notes:
  plan-formulation:
    - 'You should come up with a plan for only ONE experiment aimed at maximizing performance on the test set.'
    - "DO NOT PLAN FOR TOO LONG. Submit your plan soon."
  data-preparation:
    - 'Here is a sample code you can use to load MATH\\nfrom datasets import load_dataset'
  running-experiments:
    - "For all strings you instantiate you must use triple quotes (''')"
    - "Create very thoughtful figures, that would make a good research study."
  results-interpretation:
    - 'The baseline performance on MATH-500 is 70.2%'
  report-writing:
    - 'The baseline performance on MATH-500 is 70.2%'
"""

MATH_AGENTRXIV = (MATH_AGENTLAB
                  .replace("num-papers-lit-review: 1\n", "num-papers-lit-review: 1\n"
                           "# Number of agentRxiv papers to lit review\nagentrxiv-papers: 1\n")
                  .replace("num-papers-to-write: 1", "num-papers-to-write: 2"))


def no_keys_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in KEY_VARS}
    return {**env, "COLUMNS": "200", **extra}


def services_env(sp: ScriptedProvider, httpserver, tmp_path: Path) -> dict[str, str]:
    return {"OPENAI_BASE_URL": sp.base_url_openai, "LABCOAT_ARXIV_API": httpserver.url_for("/api/query"),
            "LABCOAT_ARXIV_PDF": httpserver.url_for("/pdf"), "LABCOAT_ARXIV_EPRINT": httpserver.url_for("/e-print"),
            "HF_ENDPOINT": httpserver.url_for("/").rstrip("/"), "LABCOAT_CACHE_DIR": str(tmp_path / "cache")}


def labcoat(*args: str, env: dict[str, str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(LABCOAT), *args], capture_output=True, text=True, env=env, cwd=cwd,
                          stdin=subprocess.DEVNULL, timeout=timeout)


def files_holding(root: Path, secret: str) -> list[str]:
    """Every file under `root` whose bytes contain `secret` (SQLite pages and WAL included)."""
    needle = secret.encode()
    return [str(p) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def dashboard_pages(runs: Path, run_id: str) -> str:
    client = TestClient(create_app(runs), base_url="http://127.0.0.1")
    pages = ["/", f"/runs/{run_id}", f"/runs/{run_id}/header", f"/runs/{run_id}/timeline", f"/runs/{run_id}/costs",
             f"/runs/{run_id}/literature", f"/runs/{run_id}/plan", f"/runs/{run_id}/data",
             f"/runs/{run_id}/experiments", f"/runs/{run_id}/report", f"/runs/{run_id}/phases/literature_review"]
    texts = []
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, (page, response.status_code)
        texts.append(response.text)
    return "\n".join(texts)


@pytest.mark.parametrize("value", ["", "OPENAI-API-KEY-HERE", "DEEPSEEK-API-KEY-HERE", "your-api-key-here",
                                   "sk-...", "<your key>", None, 42])
def test_placeholder_keys_are_ignored_with_a_note(value) -> None:
    keys: dict[str, str] = {}
    for field in ("api-key", "deepseek-api-key"):
        cfg = config_from_mapping({"research-topic": "t", field: value}, env={}, keys=keys)
        [note] = [n for n in cfg.compat_notes if n.startswith(f"'{field}'")]
        assert "holds no key" in note and ("OPENAI_API_KEY" in note or "DEEPSEEK_API_KEY" in note)
    assert keys == {}


def test_a_real_key_is_handed_back_for_the_process_and_never_kept_in_the_config() -> None:
    keys: dict[str, str] = {}
    cfg = config_from_mapping({"research-topic": "t", "api-key": CANARY, "deepseek-api-key": "sk-" + "0a1b2c3d" * 4},
                              env={}, keys=keys)
    assert keys == {"OPENAI_API_KEY": CANARY, "DEEPSEEK_API_KEY": "sk-" + "0a1b2c3d" * 4}
    assert CANARY not in cfg.model_dump_json() and "0a1b2c3d" not in cfg.model_dump_json()
    assert any("used as OPENAI_API_KEY for this process only" in n for n in cfg.compat_notes)
    # the environment's own key wins; the file's is not used at all
    keys.clear()
    cfg = config_from_mapping({"research-topic": "t", "api-key": CANARY}, env={"OPENAI_API_KEY": TEST_KEY}, keys=keys)
    assert keys == {} and any("OPENAI_API_KEY is set in the environment" in n for n in cfg.compat_notes)
    # any other credential-looking key is still refused, wherever it is
    with pytest.raises(Exception, match="API keys do not belong"):
        config_from_mapping({"research-topic": "t", "models": {"api_key": CANARY}}, env={})


@pytest.mark.parametrize("text, shaped", [(CANARY, True), ("sk-ant-api03-" + "Ab3" * 10, True),
                                          ("OPENAI-API-KEY-HERE", False), ("sk-proj-XXXXXXXXXXXXXXXXXXXXXXXX", False),
                                          ("sk-your-key-here-123456789", False), ("short-1", False)])
def test_what_counts_as_a_key(text: str, shaped: bool) -> None:
    assert key_shaped(text) is shaped


def test_every_agent_laboratory_key_is_mapped_or_named(tmp_path: Path) -> None:
    for text in (MATH_AGENTLAB.format(key="OPENAI-API-KEY-HERE"), MATH_AGENTRXIV.format(key="")):
        path = tmp_path / "agentlab.yaml"
        path.write_text(text, encoding="utf-8")
        cfg = load_config(path, env={})
        assert cfg.copilot.enabled is True and cfg.models.default == "gpt-4o-mini"
        assert cfg.report.compile_latex is False and cfg.budget.mle_steps == 1
        assert cfg.notes_for("report_writing") == ["The baseline performance on MATH-500 is 70.2%"]
        notes = " ".join(cfg.compat_notes)
        for named in ("'api-key'", "'lab-index'", "'load-existing'", "'except-if-fail'"):
            assert named in notes
    assert cfg.papers_to_write == 2 and cfg.archive.papers == 1


def test_upstream_shaped_configs_start_and_pause_at_the_first_gate_without_a_terminal(
        tmp_path: Path, httpserver, fixtures_dir) -> None:
    recorded_arxiv(fixtures_dir, httpserver)
    with ScriptedProvider(FullLab()) as sp:
        env = no_keys_env(OPENAI_API_KEY=TEST_KEY, **services_env(sp, httpserver, tmp_path))
        for name, text in (("MATH_agentlab.yaml", MATH_AGENTLAB.format(key="")),
                           ("MATH_agentrxiv.yaml", MATH_AGENTRXIV.format(key="OPENAI-API-KEY-HERE"))):
            (tmp_path / name).write_text(text, encoding="utf-8")
            done = labcoat("run", name, "--run-dir", str(tmp_path / name.removesuffix(".yaml")), env=env,
                           cwd=tmp_path)
            assert done.returncode == 3, done.stdout + done.stderr     # paused, not refused (2) or failed (1)
            assert "'api-key' holds no key (a placeholder or empty): ignored" in done.stdout
            assert "config error" not in done.stderr and "Traceback" not in done.stderr
    with open_store(tmp_path / "MATH_agentlab", readonly=True) as store:
        info = store.info()
        assert info.state == "paused" and "literature_review" in info.message, info.message
    group = tmp_path / "MATH_agentrxiv"
    with open_store(group / "MATH_agentrxiv-lab0-p0", readonly=True) as store:
        assert store.info().state == "paused"
    assert not (group / "MATH_agentrxiv-lab0-p1").exists()  # the second paper waits for the first
    refused = labcoat("resume", str(group), env=no_keys_env(), cwd=tmp_path)
    assert refused.returncode == 1 and "export OPENAI_API_KEY=..." in " ".join(refused.stderr.split())


def test_a_key_in_the_config_is_used_by_this_process_and_stored_nowhere(tmp_path: Path, httpserver,
                                                                         fixtures_dir) -> None:
    recorded_arxiv(fixtures_dir, httpserver)
    runs = tmp_path / "runs"
    run_dir = runs / "math"
    (tmp_path / "MATH_agentlab.yaml").write_text(MATH_AGENTLAB.format(key=CANARY), encoding="utf-8")
    with ScriptedProvider(FullLab(), api_key=CANARY) as sp:  # any other key gets the real API's 401
        env = no_keys_env(**services_env(sp, httpserver, tmp_path))
        started = labcoat("run", "MATH_agentlab.yaml", "--run-dir", str(run_dir), env=env, cwd=tmp_path)
        assert started.returncode == 3, started.stdout + started.stderr  # paused at the first co-pilot gate
        assert sp.served and all(r.headers.get("authorization") == f"Bearer {CANARY}" for r in sp.served)
        warning = " ".join(started.stderr.split())
        assert "holds an API key (OPENAI_API_KEY)" in warning and "export OPENAI_API_KEY=..." in warning
        assert CANARY not in started.stdout + started.stderr

        # the key lived in that process only: resuming without it says which variable to set
        refused = labcoat("resume", str(run_dir), env=env, cwd=tmp_path)
        assert refused.returncode == 1
        message = " ".join(refused.stderr.split())
        assert "need OPENAI_API_KEY" in message and "export OPENAI_API_KEY=..." in message
        assert "the config file held OPENAI_API_KEY when the run started" in message
        with open_store(run_dir, readonly=True) as store:
            assert store.info().state == "paused"                  # refused before anything changed

        finished = labcoat("resume", str(run_dir), "--set", "copilot.auto_approve=true", "--set", "budget.reviewers=1",
                           env={**env, "OPENAI_API_KEY": CANARY}, cwd=tmp_path)
        assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
        assert CANARY not in finished.stdout + finished.stderr
    assert (run_dir / "README.md").is_file() and (run_dir / "report" / "report.tex").is_file()
    assert files_holding(tmp_path, CANARY) == [str(tmp_path / "MATH_agentlab.yaml")]
    with open_store(run_dir, readonly=True) as store:
        assert store.info().state == "finished"
        run_id = store.info().id
        assert CANARY not in repr(store.config())
    pages = dashboard_pages(runs, run_id)
    assert "MATH-500" in pages and CANARY not in pages
