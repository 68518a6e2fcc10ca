"""The model gateway through the real sandbox: SDKs, streaming, structured outputs, limits, concurrency.

Programs run in bubblewrap (or rlimits-only where it is missing) via
`run_batch_in_sandbox`; the ScriptedProvider behind the gateway speaks the
real wire formats and counts what reaches it.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from pathlib import Path

import pytest

from labcoat.executor import ProcessExecutor
from labcoat.executor.recorded import run_batch_in_sandbox, run_in_sandbox
from labcoat.gateway import RunGateway, calls_made
from labcoat.gateway.run_gateway import named_in_notes

from tests.support.scripted_provider import ScriptedProvider, reply_command, scripted_config, scripted_env
from tests.support.scripted_run import open_context

KEY = "running_experiments#0/mle/0/cand/{}/run/0"


@contextlib.contextmanager
def lab(tmp_path: Path, policy=None, pool=None, **sections):
    with ScriptedProvider(policy or (lambda r: f"echo {r.last_user}")) as sp:
        sections["sandbox"] = {"timeout_s": 120, "memory_mb": 1024, **sections.get("sandbox", {})}
        cfg = scripted_config(sp, **sections)
        with open_context(tmp_path / "run", cfg, env=scripted_env(sp), phase="running_experiments") as ctx:
            ctx.gateway = RunGateway(ctx)
            ctx.executor = pool
            try:
                yield sp, ctx
            finally:
                ctx.gateway.close()


class Overlap:
    """A provider policy that answers after `delay` seconds and counts the most requests in flight at once."""

    def __init__(self, delay: float, answer):
        self.delay, self.answer = delay, answer
        self.now = self.most = 0
        self._lock = threading.Lock()

    def __call__(self, request):
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(self.delay)
        with self._lock:
            self.now -= 1
        return self.answer(request)


def run(ctx, code: str, n: int = 0) -> dict:
    result = run_in_sandbox(ctx, KEY.format(n), code)
    assert result["exit_code"] == 0, result["stderr"][-3000:]
    return result


def test_sdks_and_plain_http_reach_the_model_and_each_call_is_one_ledger_row(tmp_path):
    code = r'''
import json, os
import httpx, requests
from openai import OpenAI
from anthropic import Anthropic
from labcoat_lab import ask
out = {}
out["ask"] = ask("one", system="be brief", temperature=0)
client = OpenAI()
out["sdk"] = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "two"}]).choices[0].message.content
stream = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "three"}], stream=True,
                                        stream_options={"include_usage": True})
chunks = list(stream)
out["stream"] = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
out["stream_usage"] = chunks[-1].usage.total_tokens
headers = {"Authorization": "Bearer " + os.environ["OPENAI_API_KEY"]}
body = {"model": "openai:gpt-4o-mini", "messages": [{"role": "user", "content": "four"}]}
out["requests"] = requests.post(os.environ["OPENAI_BASE_URL"] + "/chat/completions", json=body, headers=headers).json()["choices"][0]["message"]["content"]
uds = httpx.Client(transport=httpx.HTTPTransport(uds=os.environ["LABCOAT_GATEWAY_SOCKET"]))
body["messages"][0]["content"] = "five"
out["httpx_uds"] = uds.post("http://gateway/v1/chat/completions", json=body, headers=headers).json()["choices"][0]["message"]["content"]
msg = Anthropic().messages.create(model="gpt-4o-mini", max_tokens=50, system="sys", messages=[{"role": "user", "content": "six"}])
out["anthropic"] = msg.content[0].text
out["models"] = [m.id for m in client.models.list()]
out["builtin"] = query_gpt4omini(prompt="seven", system="s")
json.dump(out, open("out.json", "w"))
'''
    with lab(tmp_path) as (sp, ctx):
        result = run(ctx, code)
        out = json.loads((ctx.run_dir / result["workdir"] / "out.json").read_text())
        ledger = ctx.store.ledger()
        calls = calls_made(ctx.store, KEY.format(0))
    assert out == {"ask": "echo one", "sdk": "echo two", "stream": "echo three", "stream_usage": out["stream_usage"],
                   "requests": "echo four", "httpx_uds": "echo five", "anthropic": "echo six",
                   "models": ["openai:gpt-4o-mini"], "builtin": "echo seven"}
    assert out["stream_usage"] > 0
    assert len(sp.served) == 7
    # the provider saw labcoat's key, never the program's token
    assert all(r.headers.get("authorization") == f"Bearer {scripted_env(sp)['OPENAI_API_KEY']}" for r in sp.requests)
    assert [r["role"] for r in ledger] == ["experiment"] * 7
    assert {r["node"] for r in ledger} == {KEY.format(0)} and {r["phase"] for r in ledger} == {"running_experiments"}
    assert result["model_calls"]["calls"] == 7 and result["model_calls"]["live"] == 7
    assert [c["response"]["text"] for c in calls][:2] == ["echo one", "echo two"]


def test_structured_output_passes_the_schema_to_the_provider(tmp_path):
    code = r'''
from openai import OpenAI
from pydantic import BaseModel
class Verdict(BaseModel):
    answer: str
    confidence: float
r = OpenAI().beta.chat.completions.parse(model="gpt-4o-mini", messages=[{"role": "user", "content": "2+2?"}],
                                         response_format=Verdict)
print(r.choices[0].message.parsed.answer, r.choices[0].message.parsed.confidence)
'''
    with lab(tmp_path, policy=lambda r: json.dumps({"answer": "4", "confidence": 0.9})) as (sp, ctx):
        result = run(ctx, code)
    assert result["stdout"].strip() == "4 0.9"
    fmt = sp.served[0].body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["schema"]["required"] == ["answer", "confidence"]


def test_candidates_share_the_gateway_at_once_and_temperature_zero_repeats_are_served_from_the_record(tmp_path):
    code = '''
import time
from labcoat_lab import ask
start = time.monotonic()
print(ask("shared question", temperature=0))
print(ask("own question {n}", temperature=0.5))
'''
    overlap = Overlap(0.5, lambda request: f"echo {request.last_user}")
    with ProcessExecutor(3) as pool, lab(tmp_path, policy=overlap, pool=pool) as (sp, ctx):
        results = run_batch_in_sandbox(ctx, [(KEY.format(n), code.replace("{n}", str(n)), {}) for n in range(3)])
        ledger = ctx.store.ledger()
    assert [r["exit_code"] for r in results] == [0, 0, 0], [r["stderr"][-500:] for r in results]
    assert overlap.most >= 2  # programs' calls overlapped at the provider
    assert [r["stdout"].splitlines()[1] for r in results] == [f"echo own question {n}" for n in range(3)]
    shared = [r for r in sp.requests if r.last_user == "shared question"]
    # asked at once by three programs, the same temperature-0 request reaches the provider once
    assert len(shared) == 1 and len(sp.served) == 4
    assert len(ledger) == len(sp.served)
    assert sorted(r["model_calls"]["replayed"] for r in results) == [0, 1, 1]


def test_a_repeated_temperature_zero_request_is_answered_from_the_record(tmp_path):
    code = 'from labcoat_lab import ask\nprint(ask("same", temperature=0))\nprint(ask("same", temperature=0))\n'
    with lab(tmp_path) as (sp, ctx):
        first = run(ctx, code, 0)
        second = run(ctx, code, 1)
        ledger = ctx.store.ledger()
    assert first["stdout"] == second["stdout"] == "echo same\necho same\n"
    assert len(sp.served) == 1 and len(ledger) == 1
    assert second["model_calls"]["replayed"] == 2 and second["model_calls"]["dollars"] == 0


def test_a_temperature_zero_repeat_arriving_before_the_first_answer_is_recorded_is_not_paid_again(tmp_path):
    """The first answer is written to the store only after it returns to the effect layer: a thread arriving
    in that window found neither a pending answer nor a row and sent the request again."""
    from labcoat.gateway.calls import ExperimentCalls, Grant
    from labcoat.gateway.wire import from_openai

    with lab(tmp_path) as (sp, ctx):
        calls = ExperimentCalls(ctx)
        grants = [Grant(KEY.format(n), ("openai:gpt-4o-mini",), 10, 2, 50) for n in range(2)]
        body = {"model": "openai:gpt-4o-mini", "temperature": 0, "messages": [{"role": "user", "content": "same"}]}
        request = from_openai(body, grants[0].allowed, 50)
        live = calls._live
        repeats: list[dict] = []

        def answer_then_repeat(grant, key, digest, req):
            answer = live(grant, key, digest, req)
            if grant is grants[0]:  # the first answer is back, its effect row not yet written
                repeats.append(calls.call(grants[1], req))
            return answer

        calls._live = answer_then_repeat
        first = calls.call(grants[0], request)
        ledger = ctx.store.ledger()
    assert len(sp.served) == 1 and len(ledger) == 1
    assert repeats[0]["text"] == first["text"] and grants[1].replayed == 1 and grants[1].dollars == 0


def test_limits_refuse_with_a_reason_and_concurrency_waits(tmp_path):
    code = r'''
import json
from concurrent.futures import ThreadPoolExecutor
from labcoat_lab import GatewayError, ask
out = {}
with ThreadPoolExecutor(4) as pool:
    out["parallel"] = list(pool.map(lambda i: ask(f"p{i}"), range(4)))
try:
    ask("too long", max_tokens=100000)
except GatewayError as e:
    out["tokens"] = [e.status, e.kind, e.reason]
try:
    ask("fifth")
    ask("sixth")
except GatewayError as e:
    out["calls"] = [e.status, e.kind, e.reason]
json.dump(out, open("out.json", "w"))
'''
    overlap = Overlap(0.2, lambda request: "ok")
    with lab(tmp_path, policy=overlap, experiments={"max_calls": 5, "max_concurrent": 2,
                                                   "max_tokens_per_call": 256}) as (sp, ctx):
        result = run(ctx, code)
        out = json.loads((ctx.run_dir / result["workdir"] / "out.json").read_text())
    assert out["parallel"] == ["ok"] * 4
    assert overlap.most == 2
    assert out["tokens"][:2] == [400, "limit_exceeded"] and "256" in out["tokens"][2]
    assert out["calls"][:2] == [429, "limit_exceeded"] and "5 model calls" in out["calls"][2]
    assert len(sp.served) == 5
    assert [r["kind"] for r in result["model_calls"]["refused"]] == ["limit_exceeded", "limit_exceeded"]


def test_no_model_access_when_experiments_models_is_empty(tmp_path):
    code = 'import os\nfrom labcoat_lab import GatewayError, ask\ntry:\n    ask("x")\nexcept GatewayError as e:\n    print(e)\nprint(sorted(k for k in os.environ if "KEY" in k))\n'
    with lab(tmp_path, experiments={"models": []}) as (sp, ctx):
        result = run_in_sandbox(ctx, KEY.format(0), code)
    # labcoat_lab is not even on the path without access
    assert "No module named 'labcoat_lab'" in result["stderr"]
    assert "model_calls" not in result


def test_models_named_in_task_notes_are_the_default():
    notes = {"running_experiments": ["Query gpt-4o-mini with:\n```response = query_gpt4omini(prompt=p)```"],
             "plan_formulation": ["Please use gpt-4o-mini for your experiments."]}
    assert named_in_notes(notes) == ["openai:gpt-4o-mini"]
    assert named_in_notes({"running_experiments": ["use ollama:qwen2.5:0.5b to label"]}) == ["ollama:qwen2.5:0.5b"]
    assert named_in_notes({}) == []


@pytest.mark.parametrize("model", ["anthropic:claude-haiku-4-5", "ollama:qwen2.5:0.5b"])
def test_every_provider_serves_programs_through_the_same_openai_endpoint(tmp_path, model):
    code = f'''
import json
from openai import OpenAI
client = OpenAI()
plain = client.chat.completions.create(model="{model}", max_tokens=100, temperature=0,
                                       messages=[{{"role": "system", "content": "Be brief."}}, {{"role": "user", "content": "hi"}}])
schema = {{"type": "object", "properties": {{"label": {{"type": "string"}}}}, "required": ["label"], "additionalProperties": False}}
typed = client.chat.completions.create(model="{model}", max_tokens=100, messages=[{{"role": "user", "content": "label it"}}],
                                       response_format={{"type": "json_schema", "json_schema": {{"name": "l", "schema": schema, "strict": True}}}})
print(json.dumps([plain.choices[0].message.content, json.loads(typed.choices[0].message.content)]))
'''

    def policy(request):
        if request.tool_names:
            return reply_command("reply", label="positive")  # Anthropic: the schema as a forced tool
        if request.schema is not None:
            return json.dumps({"label": "positive"})  # OpenAI wire: the document as the text
        return f"echo {request.last_user}"

    with lab(tmp_path, policy=policy, experiments={"models": [model]}) as (sp, ctx):
        result = run(ctx, code)
        ledger = ctx.store.ledger()
    plain, typed = json.loads(result["stdout"])
    assert plain == "echo hi"
    assert typed == {"label": "positive"}
    wire = "anthropic" if model.startswith("anthropic") else "openai"
    assert {r.api for r in sp.served} == {wire}
    assert [r["model"] for r in ledger] == [model, model]
    if wire == "anthropic":
        # the system prompt travels as Anthropic's top-level system, the schema as a forced tool
        assert sp.served[0].system == "Be brief." and sp.served[1].body["tool_choice"]["type"] == "tool"


def test_agent_laboratory_inference_snippet_works_unchanged(tmp_path):
    # Agent Laboratory's notes tell the engineer to paste this, its key placeholder included
    code = '''
import os
from openai import OpenAI
os.environ["OPENAI_API_KEY"] = "{{api_key}}"
client = OpenAI()
messages = [{"role": "system", "content": "Solve."}, {"role": "user", "content": "1+1"}]
completion = client.chat.completions.create(model="gpt-4o-mini-2024-07-18", messages=messages)
answer = completion.choices[0].message.content
print(answer)
print(query_model("gpt-4o-mini", "2+2", "Solve.", openai_api_key="sk-whatever", temp=0.0))
'''
    with lab(tmp_path, task_notes={"running_experiments": ["Please use gpt-4o-mini for your experiments"]}) as (sp, ctx):
        result = run(ctx, code)
    assert result["stdout"] == "echo 1+1\necho 2+2\n"
    assert [r.model for r in sp.served] == ["gpt-4o-mini", "gpt-4o-mini"]


def test_a_program_with_no_process_to_spare_still_reaches_the_gateway(tmp_path):
    code = ('import os\nfrom labcoat_lab import ask\n'
            'print(os.environ.get("OPENAI_BASE_URL"), ask("still", temperature=0))\n')
    with lab(tmp_path, sandbox={"max_processes": 1}) as (sp, ctx):
        result = run_in_sandbox(ctx, KEY.format(0), code)
    assert result["exit_code"] == 0, result["stderr"][-2000:]
    assert result["stdout"] == "None echo still\n"
