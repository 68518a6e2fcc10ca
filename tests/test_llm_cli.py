"""`labcoat cost RUN` and `labcoat models`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from labcoat.agents.commands import Search
from labcoat.cli import build_app
from labcoat.run.runner import create_run, execute
from tests.support.scripted_provider import ScriptedProvider, reply_command, scripted_config, scripted_env
from tests.support.scripted_run import ask_workflow, attach_scripted

LABCOAT = Path(sys.executable).with_name("labcoat")


@pytest.fixture
def invoke(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    runner, app = CliRunner(), build_app()
    return lambda *args: runner.invoke(app, [str(a) for a in args])


def _run_with_calls(tmp_path: Path) -> tuple[Path, list[dict]]:
    with ScriptedProvider(lambda r: reply_command("search", query="q", source="all")) as sp:
        config = scripted_config(sp, model="openai:gpt-4o", models={"roles": {"postdoc": "ollama:llama3"}})
        run_dir = create_run(config, tmp_path / "runs" / "r1")
        asks = [{"role": role, "messages": [{"role": "user", "content": f"q{i}"}], "commands": [Search]}
                for i, role in enumerate(["phd", "postdoc", "phd"])]
        execute(run_dir, ask_workflow(asks), attach=attach_scripted(scripted_env(sp)))
        return run_dir, sp.usage_reported


def test_cost_totals_by_phase_role_and_model(tmp_path, invoke):
    run_dir, usage = _run_with_calls(tmp_path)
    result = invoke("cost", run_dir, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["total"]["calls"] == 3
    assert data["total"]["input_tokens"] == sum(u["input_tokens"] for u in usage)
    assert data["role"]["phd"]["calls"] == 2 and data["role"]["postdoc"]["calls"] == 1
    assert data["model"]["ollama:llama3"]["dollars"] == 0
    assert data["model"]["openai:gpt-4o"]["dollars"] > 0
    assert data["phase"]["literature_review"]["calls"] == 3

    text = invoke("cost", run_dir)
    assert text.exit_code == 0
    assert "3 LLM calls" in text.output and "by role" in text.output and "openai:gpt-4o" in text.output
    # nothing was written to a cache and no model reasoned: those columns are left out, the tables fit 80 columns
    assert "read from the provider's cache" in text.output and "cache writes" not in text.output
    assert "reasoning  " not in text.output
    assert data["total"]["cache_write_tokens"] == sum(u.get("cache_write_tokens", 0) for u in usage)


def test_cost_shows_what_a_provider_cache_served_and_what_was_written(tmp_path, invoke):
    system = "You are the professor. Read the plan and judge whether its protocol is sound. " * 140
    with ScriptedProvider(lambda r: reply_command("search", query="q", source="all")) as sp:
        config = scripted_config(sp, model="anthropic:claude-sonnet-4-6")
        run_dir = create_run(config, tmp_path / "runs" / "r2")
        asks = [{"role": "professor", "system": system, "messages": [{"role": "user", "content": f"q{i}"}],
                 "commands": [Search]} for i in range(3)]
        execute(run_dir, ask_workflow(asks), attach=attach_scripted(scripted_env(sp)))
        usage = sp.usage_reported
    data = json.loads(invoke("cost", run_dir, "--json").output)
    read, written = sum(u["cached_tokens"] for u in usage), sum(u["cache_write_tokens"] for u in usage)
    assert read > 0 and written > 0
    assert (data["total"]["cached_tokens"], data["total"]["cache_write_tokens"]) == (read, written)
    text = invoke("cost", run_dir).output
    share = f"{read / data['total']['input_tokens']:.0%}"
    assert f"{read:,} read from the provider's cache ({share}), {written:,} written to it" in text
    assert "cache writes" in text and f"{written:,}" in text.split("by phase")[1]


def test_cost_of_an_unknown_run_is_a_clear_error(tmp_path):
    proc = subprocess.run([str(LABCOAT), "cost", "no-such-run", "--runs", str(tmp_path)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "no-such-run" in proc.stderr


def test_models_lists_presets_prices_and_keys(invoke, monkeypatch):
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-deepseek-test-123456")
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    result = invoke("models", "--json")
    assert result.exit_code == 0
    rows = {r["model"]: r for r in json.loads(result.output)}
    assert rows["openai:gpt-4o"]["input_per_mtok"] == pytest.approx(2.5)
    assert rows["deepseek:deepseek-chat"]["key_set"] is True
    assert rows["gemini:gemini-2.5-flash"]["key_set"] is False
    assert rows["local:smollm2"]["input_per_mtok"] is None and rows["local:smollm2"]["key_needed"] is False
    text = invoke("models")
    assert "DEEPSEEK_API_KEY set" in text.output and "GEMINI_API_KEY missing" in text.output
    assert "sk-deepseek-test" not in text.output
