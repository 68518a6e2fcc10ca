"""Each backend through its real SDK against the scripted provider on loopback."""

from __future__ import annotations

import httpx
import pytest

from labcoat.agents.commands import RunCode, Search
from labcoat.errors import ConfigError
from labcoat.llm.presets import api_key_for, base_url_for, parse_model
from tests.support.scripted_provider import (TEST_KEY, ScriptedProvider, reply_command, scripted_config,
                                             scripted_env)
from tests.support.scripted_run import open_context

MODELS = ["openai:gpt-4o-mini", "anthropic:claude-sonnet-4-6", "deepseek:deepseek-chat", "gemini:gemini-2.5-flash",
          "openrouter:openai/gpt-4o-mini", "ollama:qwen2.5-coder:7b", "vllm:Qwen/Qwen2.5-7B-Instruct",
          "llamacpp:smollm2", "openai:o3-mini", "openai:o1-mini", "openai:gpt-5", "o1-preview", "gpt-4o"]


def policy(req):
    if "run_code" in req.command_names:
        return reply_command("run_code", body="print('hello')", text="Running it.")
    if req.command_names:
        return reply_command("search", query="sparse attention", source="arxiv")
    return f"echo: {req.last_user.splitlines()[-1]}"


@pytest.mark.parametrize("model", MODELS)
def test_round_trip_text_and_commands(tmp_path, model):
    with ScriptedProvider(policy) as sp:
        config = scripted_config(sp, model=model, models={"temperature": 0.2})
        with open_context(tmp_path / "run", config, env=scripted_env(sp)) as ctx:
            msgs = [{"role": "user", "content": "hello there"}]
            text = ctx.models.ask(key=ctx.key("t"), role="phd", system="You are a PhD student.", messages=msgs)
            search = ctx.models.ask(key=ctx.key("s"), role="phd", system="You are a PhD student.", messages=msgs,
                                    commands=[Search])
            code = ctx.models.ask(key=ctx.key("c"), role="phd", system="You are a PhD student.", messages=msgs,
                                  commands=[Search, RunCode])
    assert text.text == "echo: hello there" and text.command is None
    assert search.command == Search(query="sparse attention", source="arxiv")
    assert code.command == RunCode(code="print('hello')")
    # no request was refused: temperature, max_tokens and system handling suit every model
    assert [r.status for r in sp.requests] == [200, 200, 200], sp.requests[-1].body
    assert all(r.usage.input_tokens > 0 and r.usage.output_tokens > 0 for r in (text, search, code))


def test_openai_wire_details(tmp_path):
    with ScriptedProvider(policy) as sp:
        for model in ("openai:gpt-4o-mini", "openai:o3-mini", "ollama:llama3"):
            config = scripted_config(sp, model=model, models={"temperature": 0.3, "max_tokens": 777})
            with open_context(tmp_path / model.replace(":", "_"), config, env=scripted_env(sp)) as ctx:
                ctx.models.ask(key=ctx.key("s"), role="phd", system="SYS", messages=[{"role": "user", "content": "q"}],
                               commands=[Search])
    plain, reasoning, ollama = (r.body for r in sp.requests)
    assert plain["messages"][0] == {"role": "system", "content": plain["messages"][0]["content"]}
    assert plain["temperature"] == 0.3 and plain["max_completion_tokens"] == 777
    assert plain["tools"][0]["function"]["strict"] is True and plain["tool_choice"] == "required"
    assert reasoning["messages"][0]["role"] == "developer"
    assert "temperature" not in reasoning and "max_tokens" not in reasoning and "parallel_tool_calls" not in reasoning
    assert plain["parallel_tool_calls"] is False
    assert reasoning["max_completion_tokens"] == 777
    assert ollama["response_format"]["type"] == "json_schema" and "tools" not in ollama
    assert ollama["max_tokens"] == 777
    # reasoning tokens reported by the server reach the reply
    assert sp.usage_reported[1]["reasoning_tokens"] > 0


def test_anthropic_lets_the_model_write_text_when_a_body_is_fenced(tmp_path):
    with ScriptedProvider(policy) as sp:
        config = scripted_config(sp, model="anthropic:claude-sonnet-4-6")
        with open_context(tmp_path / "run", config, env=scripted_env(sp)) as ctx:
            reply = ctx.models.ask(key=ctx.key("c"), role="phd", system="S", commands=[RunCode],
                                   messages=[{"role": "assistant", "content": "earlier"},
                                             {"role": "user", "content": ""}, {"role": "assistant", "content": ""},
                                             {"role": "user", "content": "go"}])
    body = sp.requests[0].body
    assert body["tool_choice"] == {"type": "auto"} and body["messages"][0]["role"] == "user"
    assert reply.command.code == "print('hello')"


REFUSED = [
    ("openai", {"model": "o3-mini", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
    ("openai", {"model": "gpt-5", "temperature": 0.2, "messages": [{"role": "user", "content": "x"}]}, "temperature"),
    ("openai", {"model": "o4-mini", "parallel_tool_calls": False, "messages": [{"role": "user", "content": "x"}]},
     "parallel_tool_calls"),
    ("openai", {"model": "o1-mini", "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "x"}]},
     "system"),
    ("openai", {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}], "response_format": {
        "type": "json_schema", "json_schema": {"name": "r", "strict": True, "schema": {
            "type": "object", "properties": {"a": {"type": "string"}}, "required": [], "additionalProperties": False}}}},
     "required"),
    ("openai", {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function",
        "function": {"name": "f", "strict": True, "parameters": {"type": "object", "properties": {}}}}]},
     "additionalProperties"),
    ("openai", {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "x"}], "tools": [{
        "type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {},
                                                                    "additionalProperties": False}}}]},
     "Unknown name"),
    ("anthropic", {"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
    ("anthropic", {"model": "claude-sonnet-4-6", "max_tokens": 5, "messages": [
        {"role": "system", "content": "s"}, {"role": "user", "content": "x"}]}, "system"),
]


@pytest.mark.parametrize("api,body,word", REFUSED)
def test_scripted_provider_refuses_what_the_real_apis_refuse(api, body, word):
    with ScriptedProvider(lambda r: "should not be reached") as sp:
        url = f"{sp.base_url_openai}/chat/completions" if api == "openai" else f"{sp.base_url_anthropic}/v1/messages"
        resp = httpx.post(url, json=body, headers={"authorization": f"Bearer {TEST_KEY}"}, timeout=10)
    assert resp.status_code == 400
    assert word in resp.text


def test_wrong_key_is_refused_and_pauses_without_the_key(tmp_path):
    from labcoat.errors import ProviderUnavailable

    with ScriptedProvider(policy) as sp:
        config = scripted_config(sp)
        env = {"OPENAI_API_KEY": "sk-wrong-key-0000000000001234"}
        with open_context(tmp_path / "run", config, env=env) as ctx:
            with pytest.raises(ProviderUnavailable) as info:
                ctx.models.ask(key=ctx.key("s"), role="phd", system="S", messages=[{"role": "user", "content": "q"}])
    assert sp.requests[0].status == 401
    assert "sk-wrong-key" not in str(info.value) and "OPENAI_API_KEY" in info.value.hint


def test_model_strings_and_bare_names():
    assert parse_model("gpt-4o").id == "openai:gpt-4o"
    assert parse_model("o1-mini").legacy_reasoning and parse_model("o1-mini").mode == "json"
    assert parse_model("deepseek-chat").id == "deepseek:deepseek-chat"
    assert parse_model("claude-opus-4-1").preset.name == "anthropic"
    assert parse_model("ollama:qwen2.5-coder:7b").name == "qwen2.5-coder:7b"
    assert parse_model("llama.cpp:x").preset.name == "llamacpp"
    assert parse_model("openai:gpt-5-mini").reasoning and not parse_model("openai:gpt-4.1").reasoning
    with pytest.raises(ConfigError, match="provider:model"):
        parse_model("mystery-model")
    with pytest.raises(ConfigError, match="unknown provider 'acme'"):
        parse_model("acme:x")


def test_base_url_and_key_resolution():
    preset = parse_model("openai:gpt-4o").preset
    assert base_url_for(preset, {}, {}) == "https://api.openai.com/v1"
    assert base_url_for(preset, {}, {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}) == "http://127.0.0.1:9/v1"
    assert base_url_for(preset, {"openai": "http://127.0.0.1:8/v1"}, {"OPENAI_BASE_URL": "x"}) == "http://127.0.0.1:8/v1"
    with pytest.raises(ConfigError, match="set OPENAI_API_KEY"):
        api_key_for(parse_model("openai:gpt-4o"), {})
    assert api_key_for(parse_model("ollama:llama3"), {}) == "unused"


def test_local_model_starts_a_server_lazily_and_close_stops_it(tmp_path):
    events = []

    class FakeLocal:
        """Stands in for LocalServer: the scripted provider plays the llama.cpp server."""

        def __init__(self, name, sp):
            self.name, self.sp, self.model_alias = name, sp, name

        def start(self):
            events.append("start")
            return self

        @property
        def base_url(self):
            return self.sp.base_url_openai

        def stop(self):
            events.append("stop")

    with ScriptedProvider(policy, api_key=None) as sp:
        config = scripted_config(sp, model="local:smollm2")
        with open_context(tmp_path / "run", config, env={}, local_server_factory=lambda n: FakeLocal(n, sp)) as ctx:
            assert events == []
            for i in range(2):
                reply = ctx.models.ask(key=ctx.key("s", i), role="phd", system="S", commands=[Search],
                                       messages=[{"role": "user", "content": "q"}])
            assert events == ["start"] and reply.command.query == "sparse attention"
            assert sp.requests[0].body["model"] == "smollm2" and "response_format" in sp.requests[0].body
            assert reply.dollars == 0.0
    assert events == ["start", "stop"]


def test_model_complete_without_a_run(tmp_path):
    from labcoat.llm.commands import CommandSet
    from labcoat.llm.model import Model

    with ScriptedProvider(policy) as sp:
        for name in ("openai:gpt-4o", "anthropic:claude-sonnet-4-6"):
            ref = parse_model(name)
            base = sp.base_url_anthropic if ref.preset.wire == "anthropic" else sp.base_url_openai
            model = Model(ref, base_url=base, api_key=TEST_KEY, timeout_s=5, retries=0)
            reply = model.complete([{"role": "system", "content": "You search."},
                                    {"role": "user", "content": "go"}], schema=CommandSet([Search]), max_tokens=50)
            text = model.complete([{"role": "user", "content": "plain"}])
            model.close()
            assert reply.command == Search(query="sparse attention", source="arxiv") and reply.dollars > 0
            assert reply.model == ref.id and reply.latency_s > 0
            assert text.text == "echo: plain" and text.command is None


def test_gemini_gets_tool_schemas_it_accepts_and_nested_commands_still_validate(tmp_path):
    from labcoat.agents.commands import SubmitPlan
    from labcoat.llm.schema_dialects import for_gemini

    plan = {"question": "q", "hypotheses": ["h"], "datasets": [{"name": "iris", "source": "sklearn", "notes": ""}],
            "method": "m", "baselines": ["b"], "metrics": [{"name": "accuracy", "split": "dev",
                                                              "higher_is_better": True}],
            "protocol": "p", "figures": ["f"], "compute_budget": "1h"}
    with ScriptedProvider(lambda r: reply_command("plan", **plan)) as sp:
        config = scripted_config(sp, model="gemini:gemini-2.5-flash")
        with open_context(tmp_path / "run", config, env=scripted_env(sp)) as ctx:
            reply = ctx.models.ask(key=ctx.key("p"), role="phd", system="S", commands=[SubmitPlan],
                                   messages=[{"role": "user", "content": "plan"}])
    assert sp.requests[0].status == 200
    params = sp.requests[0].body["tools"][0]["function"]["parameters"]
    assert params["properties"]["datasets"]["items"]["properties"]["name"]["type"] == "string"  # $ref inlined
    assert reply.command.datasets[0].name == "iris" and reply.command.metrics[0].higher_is_better is True
    assert for_gemini({"properties": {"c": {"const": "x"}}}) == {"properties": {"c": {"enum": ["x"], "type": "string"}}}
