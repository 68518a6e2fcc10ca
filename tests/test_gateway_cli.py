"""`labcoat exec PROGRAM --models ...`, and experiment spend apart in `labcoat cost` and the dashboard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from labcoat.cli import build_app
from labcoat.run.runner import create_run, execute
from labcoat.run.services import attach
from labcoat.web import create_app

from tests.support.gateway_app import PARALLEL, PROGRAM_KEY, SEQUENTIAL, workflow
from tests.support.scripted_provider import TEST_KEY, ScriptedProvider, scripted_config

PROGRAM = '''
from labcoat_lab import ask
from openai import OpenAI
print(ask("What is 2 + 2?", system="Answer with a number.", temperature=0))
print(OpenAI().chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "And 3 + 3?"}]).choices[0].message.content)
'''


@pytest.fixture
def invoke(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    runner, app = CliRunner(), build_app()
    return lambda *args: runner.invoke(app, [str(a) for a in args])


def test_exec_with_models_prints_the_calls_and_their_cost(tmp_path, monkeypatch, invoke):
    program = tmp_path / "eval.py"
    program.write_text(PROGRAM)
    with ScriptedProvider(lambda r: "4" if "2 + 2" in r.last_user else "6") as sp:
        monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", sp.base_url_openai)
        result = invoke("exec", program, "--workdir", tmp_path / "work", "--models", "openai:gpt-4o-mini")
        refused = invoke("exec", program, "--workdir", tmp_path / "work2", "--models", "openai:gpt-4o")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["stdout"] == "4\n6\n"
    calls = data["model_calls"]
    assert calls["calls"] == 2 and calls["live"] == 2 and calls["dollars"] > 0
    assert [c["answer"] for c in calls["calls_made"]] == ["4", "6"]
    assert all(c["dollars"] > 0 and c["model"] == "openai:gpt-4o-mini" for c in calls["calls_made"])
    assert TEST_KEY not in result.stdout
    # the calls are kept beside the program's folder, out of its reach
    assert (tmp_path / "work.calls" / "run.db").exists() and not (tmp_path / "work" / "run.db").exists()
    assert refused.exit_code == 1
    denied = json.loads(refused.stdout)
    assert denied["model_calls"]["refused"][0]["status"] == 403
    assert "allowed: openai:gpt-4o" in denied["stderr"]


def test_cost_and_dashboard_show_experiment_spend_apart(tmp_path, monkeypatch, invoke):
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
    with ScriptedProvider(lambda r: f"answer to {r.last_user}") as sp:
        run_dir = create_run(scripted_config(sp, experiments={"max_tokens_per_call": 64}), tmp_path / "runs" / "r1")
        ctx = execute(run_dir, workflow, attach=attach)
        assert ctx.failure is None, ctx.failure
    data = json.loads(invoke("cost", run_dir, "--json").output)
    total = SEQUENTIAL + PARALLEL
    assert data["spender"]["experiments"]["calls"] == total and "agents" not in data["spender"]
    assert data["program"][PROGRAM_KEY]["calls"] == total and data["role"]["experiment"]["calls"] == total
    text = invoke("cost", run_dir).output
    assert "experiment programs" in text and f"({total} calls through the model gateway)" in text
    assert "by program" in text and PROGRAM_KEY in text
    page = TestClient(create_app(tmp_path / "runs"), base_url="http://127.0.0.1").get(f"/runs/{run_dir.name}/costs")
    assert page.status_code == 200
    assert "Agents and experiment programs" in page.text and "experiment programs" in page.text
    assert "experiments#0/eval" in page.text  # the program, by its run key
