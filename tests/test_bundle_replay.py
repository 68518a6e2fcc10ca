"""An LLM-evaluation program's model calls in a bundle: recorded by the gateway, replayed with no provider request.

The program is labcoat's own LLM-evaluation seed, run as an experiment
candidate through the real gateway and sandbox against the scripted
provider; the run is exported, and the bundle reproduced with the provider
counting what reaches it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labcoat.artefacts import MetricValue, Results
from labcoat.bundle.export import export_run
from labcoat.bundle.files import BundleError, write_manifest
from labcoat.bundle.model_calls import read_log
from labcoat.bundle.reproduce import reproduce
from labcoat.executor.recorded import run_in_sandbox
from labcoat.gateway import RunGateway

from tests.support.scripted_provider import TEST_KEY, ScriptedProvider, scripted_config, scripted_env
from tests.support.scripted_run import open_context

SEED = Path(__file__).resolve().parents[1] / "src" / "labcoat" / "solvers" / "mle" / "seeds" / "llm_eval.py"
KEY = "running_experiments#0/mle/0/cand/0/run/0"
ITEMS = [{"question": "2+2?", "answer": "4", "split": "dev"}, {"question": "3+3?", "answer": "6", "split": "dev"},
         {"question": "5+5?", "answer": "10", "split": "dev"}]


def _answer(request) -> str:
    # a model that gets two of three right, with the hedging a real one writes
    return "Let me think step by step.\nAnswer: 4" if "2+2" in request.last_user else "It is probably\nAnswer: 6"


def llm_run(run_dir: Path, sp: ScriptedProvider) -> dict:
    """One LLM-evaluation candidate through the gateway, recorded as a finished experiment's best node."""
    cfg = scripted_config(sp, sandbox={"timeout_s": 120, "memory_mb": 1024})
    with open_context(run_dir, cfg, env=scripted_env(sp), phase="running_experiments") as ctx:
        data = run_dir / "prepared"
        data.mkdir()
        (data / "qa.jsonl").write_text("".join(json.dumps(i) + "\n" for i in ITEMS))
        ctx.gateway = RunGateway(ctx)
        try:
            result = run_in_sandbox(ctx, KEY, SEED.read_text(), inputs={"data": str(data)},
                                    env={"LABCOAT_DATA_DIR": "inputs/data"})
        finally:
            ctx.gateway.close()
        assert result["exit_code"] == 0, result["stderr"][-2000:]
        accuracy = next(m["value"] for m in result["metrics"] if m["name"] == "accuracy")
        results = Results(best_code=SEED.read_text(), metrics=[MetricValue(name="accuracy", value=accuracy, source="s0c0")],
                          journal=[{"id": "s0c0", "code": SEED.read_text(), "status": "ok", "metrics": result["metrics"]}])
        ctx.store.put_artefact("running_experiments", "Results", results.model_dump(mode="json"),
                               phase="running_experiments")
        ctx.store.set_state("finished")
    return result


@pytest.fixture
def provider(monkeypatch):
    with ScriptedProvider(_answer) as sp:
        monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", sp.base_url_openai)  # for --live-models only
        yield sp


@pytest.fixture
def bundle(provider, tmp_path) -> Path:
    result = llm_run(tmp_path / "run", provider)
    assert len(provider.requests) == 3 and result["model_calls"]["live"] == 3
    out = export_run(tmp_path / "run", tmp_path / "bundle").path
    (tmp_path / "run").rename(tmp_path / "moved-away")
    return out


def test_model_calls_replay_from_the_log_with_no_provider_request(provider, bundle, tmp_path):
    calls = read_log(bundle / "model_calls" / "node_s0c0.jsonl")
    assert len(calls) == 3 and all("2+2?" in json.dumps(c["request"]) or "Answer" in json.dumps(c["response"])
                                   for c in calls)
    program = json.loads((bundle / "programs" / "node_s0c0" / "program.json").read_text())
    assert program["model_access"]["allowed"] == ["openai:gpt-4o-mini"] and program["granted_env_names"] == []
    before = len(provider.requests)
    result = reproduce(bundle, workdir=tmp_path / "w")
    assert len(provider.requests) == before  # 0 provider requests
    assert result.ok, [r.to_json() for r in result.rows]
    assert result.rows[0].rerun == result.rows[0].recorded == pytest.approx(2 / 3, abs=0)
    assert result.programs[0].model_calls_served == 3 and result.programs[0].model_calls_live == 0


def test_a_call_missing_from_the_log_is_refused_not_made(provider, bundle, tmp_path):
    log = bundle / "model_calls" / "node_s0c0.jsonl"
    log.write_text("".join(line + "\n" for line in log.read_text().splitlines()[:2]))
    write_manifest(bundle, "run")
    before = len(provider.requests)
    result = reproduce(bundle, workdir=tmp_path / "w")
    assert len(provider.requests) == before
    assert not result.ok and result.programs[0].exit_code != 0
    assert any("not in the replay log" in n for n in result.programs[0].notes)


def test_live_models_ask_the_provider_again(provider, bundle, tmp_path):
    before = len(provider.requests)
    result = reproduce(bundle, workdir=tmp_path / "w", live_models=True)
    assert len(provider.requests) == before + 3
    assert result.ok and result.programs[0].model_calls_live == 3


def test_a_changed_replay_log_is_refused(bundle, tmp_path):
    log = bundle / "model_calls" / "node_s0c0.jsonl"
    log.write_text(log.read_text().replace("Answer: 6", "Answer: 10"))
    with pytest.raises(BundleError, match="model_calls/node_s0c0.jsonl"):
        reproduce(bundle, workdir=tmp_path / "w")
