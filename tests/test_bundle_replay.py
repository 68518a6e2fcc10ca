"""An LLM-evaluation program's model calls: recorded once live, then replayed with no provider request.

The program is labcoat's own LLM-evaluation seed. Its bundle is laid out as
`labcoat export` writes one; the calls are recorded by a `--live-models`
re-run against the scripted provider and then served from the replay log.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from labcoat.bundle import FORMAT, environment
from labcoat.bundle.files import BundleError, sha256_file, write_manifest
from labcoat.bundle.model_calls import KIND, read_log, recorded_calls
from labcoat.bundle.reproduce import reproduce
from labcoat.store import RunStore

from tests.support.scripted_provider import TEST_KEY, ScriptedProvider

SEED = Path(__file__).resolve().parents[1] / "src" / "labcoat" / "solvers" / "mle" / "seeds" / "llm_eval.py"
ITEMS = [{"question": "2+2?", "answer": "4", "split": "dev"}, {"question": "3+3?", "answer": "6", "split": "dev"},
         {"question": "5+5?", "answer": "10", "split": "dev"}]


def _answer(request) -> str:
    # a model that gets two of three right, with the hedging a real one writes
    return "Let me think.\nAnswer: 4" if "2+2" in request.last_user else "It is probably\nAnswer: 6"


def llm_bundle(root: Path, calls: list[dict] | None = None, accuracy: float = 2 / 3) -> Path:
    prog = root / "programs" / "llm_eval"
    prog.mkdir(parents=True)
    shutil.copy(SEED, prog / "main.py")
    data = root / "data" / "qa"
    data.mkdir(parents=True)
    (data / "qa.jsonl").write_text("".join(json.dumps(i) + "\n" for i in ITEMS))
    (root / "model_calls").mkdir()
    (root / "model_calls" / "llm_eval.jsonl").write_text("".join(json.dumps(c) + "\n" for c in calls or []))
    metrics = [{"name": "accuracy", "value": accuracy, "split": "dev", "higher_is_better": True}]
    (prog / "recorded.json").write_text(json.dumps({"exit_code": 0, "metrics": metrics}))
    program = {"name": "llm_eval", "role": "LLM evaluation", "code": "programs/llm_eval/main.py",
               "code_sha256": sha256_file(prog / "main.py"), "recorded_file": "programs/llm_eval/recorded.json",
               "files": {}, "env": {"LABCOAT_DATA_DIR": "inputs/data", "LABCOAT_EVAL_MODEL": "gpt-4o-mini"},
               "granted_env_names": ["OPENAI_API_KEY"], "seed": {"PYTHONHASHSEED": "0", "in_code": []},
               "limits": {"network": True, "timeout_s": 120.0},
               "inputs": {"data": {"source": {"kind": "run_folder", "path": "exec/x/data"}, "bundle_path": "data/qa",
                                   "files": {"qa.jsonl": {"sha256": sha256_file(data / "qa.jsonl"), "bytes": 1}}}},
               "outputs": {}, "tolerance": 0.0, "tolerance_live_models": 0.05, "duration_s": 1.0,
               "model_calls": {"log": "model_calls/llm_eval.jsonl", "count": len(calls or [])}}
    (prog / "program.json").write_text(json.dumps(program))
    (root / "environment").mkdir()
    (root / "environment" / "environment.json").write_text(json.dumps(environment.capture()))
    claims = [{"program": "llm_eval", "metric": "accuracy", "split": "dev", "stated": "0.67"}]
    (root / "bundle.json").write_text(json.dumps({"format": FORMAT, "run_id": "llm", "programs": ["llm_eval"],
                                                  "claims": claims}))
    write_manifest(root, "llm")
    return root


@pytest.fixture
def provider(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
    with ScriptedProvider(_answer) as sp:
        yield sp


def test_model_calls_replay_from_the_log_with_no_provider_request(provider, tmp_path):
    live = reproduce(llm_bundle(tmp_path / "first"), workdir=tmp_path / "w1", live_models=True,
                     upstream=provider.base_url_openai)
    assert live.ok, [r.to_json() for r in live.rows]
    assert len(provider.requests) == 3 and live.programs[0].model_calls_live == 3
    calls = read_log(tmp_path / "w1" / "model_calls" / "llm_eval.jsonl")
    assert [c["request"]["messages"][0]["content"].endswith(i["question"]) for c, i in zip(calls, ITEMS)] == [True] * 3

    before = len(provider.requests)
    bundle = llm_bundle(tmp_path / "second", calls)
    done = subprocess.run([sys.executable, "-m", "labcoat", "reproduce", str(bundle), "--workdir",
                           str(tmp_path / "w2"), "--json"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert len(provider.requests) == before  # 0 provider requests
    assert report["programs"][0]["model_calls_served"] == 3 and report["programs"][0]["model_calls_live"] == 0
    assert report["rows"][0]["rerun"] == report["rows"][0]["recorded"] == pytest.approx(2 / 3, abs=0)


def test_a_call_missing_from_the_log_is_refused_not_made(provider, tmp_path):
    live = reproduce(llm_bundle(tmp_path / "first"), workdir=tmp_path / "w1", live_models=True,
                     upstream=provider.base_url_openai)
    calls = read_log(tmp_path / "w1" / "model_calls" / "llm_eval.jsonl")[:2]
    before = len(provider.requests)
    result = reproduce(llm_bundle(tmp_path / "second", calls), workdir=tmp_path / "w2")
    assert len(provider.requests) == before
    assert not result.ok and result.programs[0].exit_code != 0
    assert any("not in the replay log" in n for n in result.programs[0].notes)
    assert live.ok


def test_a_changed_replay_log_is_refused(provider, tmp_path):
    bundle = llm_bundle(tmp_path / "b", [{"seq": 0, "request_sha256": "0" * 64, "request": {}, "response": {}}])
    log = bundle / "model_calls" / "llm_eval.jsonl"
    log.write_text(log.read_text().replace('"seq": 0', '"seq": 1'))
    with pytest.raises(BundleError, match="model_calls/llm_eval.jsonl"):
        reproduce(bundle, workdir=tmp_path / "w")


def test_export_reads_a_programs_model_calls_from_the_store(tmp_path):
    with RunStore(tmp_path / "run") as store:
        store.put_effect("running_experiments#0/mle/1/cand/0/run/0", "exec", "h", "{}", "{}", 1.0)
        for n, answer in enumerate(["Answer: 4", "Answer: 6"]):
            body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"q{n}"}]}
            store.put_effect(f"running_experiments#0/mle/1/cand/0/run/0/model/{n}", KIND, "h", json.dumps(body),
                             json.dumps({"choices": [{"message": {"content": answer}}]}), 0.1)
        store.put_effect("running_experiments#0/mle/1/cand/0/run/01/model/0", KIND, "h", "{}", "{}", 0.1)
        calls = recorded_calls(store, "running_experiments#0/mle/1/cand/0/run/0")
    assert [c["seq"] for c in calls] == [0, 1]
    assert calls[1]["response"]["choices"][0]["message"]["content"] == "Answer: 6"
