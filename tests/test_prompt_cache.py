"""Prompt caching on the wire: what labcoat marks and sends, and what the services then report.

The scripted provider caches as the services do (tests/support/scripted_cache.py): OpenAI by prefix
from 1024 tokens in 128-token steps; Anthropic at marked breakpoints only, at most 4, each from the
model's minimum. Every figure asserted here is the usage the server reported through the real SDKs.
"""

from __future__ import annotations

import httpx
import pytest

from labcoat.agents.commands import RunCode, Search
from labcoat.llm.vision import cached_text
from tests.support.scripted_cache import anthropic_min
from tests.support.scripted_provider import TEST_KEY, ScriptedProvider, reply_command, scripted_config, scripted_env
from tests.support.scripted_run import open_context

LONG_SYSTEM = "You are a careful professor who reads every table twice before you judge it. " * 140  # ~2.8k tokens


def policy(req):
    return reply_command("search", query="sparse attention", source="arxiv") if req.command_names else "ok"


def ask_three(tmp_path, sp, model, system, messages_for, role="professor"):
    config = scripted_config(sp, model=model)
    with open_context(tmp_path / "run", config, env=scripted_env(sp)) as ctx:
        return [ctx.models.ask(key=ctx.key("s", i), role=role, system=system, commands=[Search, RunCode],
                               messages=messages_for(i)) for i in range(3)], ctx.models.cache_key(role)


def test_anthropic_marks_tools_and_system_and_reads_them_back(tmp_path):
    with ScriptedProvider(policy) as sp:
        replies, _ = ask_three(tmp_path, sp, "anthropic:claude-sonnet-4-6", LONG_SYSTEM,
                               lambda i: [{"role": "user", "content": f"turn {i}"}])
    for req in sp.requests:
        assert req.body["tools"][-1]["cache_control"] == {"type": "ephemeral"}
        assert all("cache_control" not in t for t in req.body["tools"][:-1])
        assert req.body["system"][0]["cache_control"] == {"type": "ephemeral"}
        assert "prompt_cache_key" not in req.body
    first, second, third = (r.usage for r in replies)
    assert first.cached_tokens == 0 and first.cache_write_tokens > anthropic_min("claude-sonnet-4-6")
    assert second.cache_write_tokens == 0 and second.cached_tokens == first.cache_write_tokens
    assert third.cached_tokens == second.cached_tokens
    # the same prompt size costs less once read from cache, and writing it cost more than plain input
    assert replies[1].dollars < replies[0].dollars


def test_anthropic_short_prefix_is_marked_but_neither_written_nor_read(tmp_path):
    with ScriptedProvider(policy) as sp:
        replies, _ = ask_three(tmp_path, sp, "anthropic:claude-sonnet-4-6", "You are a careful professor. " * 40,
                               lambda i: [{"role": "user", "content": f"turn {i}"}])
    assert all(req.status == 200 for req in sp.requests)
    assert [(r.usage.cached_tokens, r.usage.cache_write_tokens) for r in replies] == [(0, 0)] * 3


def test_a_paper_every_reviewer_reads_is_read_from_cache_by_the_second_and_third(tmp_path):
    paper = "<paper>\n" + "We measure the held-out accuracy of four fingerprints on Tox21. " * 200 + "</paper>"

    def review(i):
        return [{"role": "user", "content": [cached_text(paper), {"type": "text", "text": f"Reviewer {i + 1}."}]}]

    with ScriptedProvider(policy) as sp:
        replies, _ = ask_three(tmp_path, sp, "anthropic:claude-sonnet-4-6", "Review form. " * 10, review,
                               role="reviewer")
    for req in sp.requests:
        blocks = req.body["messages"][0]["content"]
        assert blocks[0]["cache_control"] == {"type": "ephemeral"} and "cache_control" not in blocks[1]
    first, second, third = (r.usage for r in replies)
    assert first.cached_tokens == 0 and first.cache_write_tokens > len(paper) // 4 * 0.9
    assert second.cached_tokens == first.cache_write_tokens == third.cached_tokens
    assert second.input_tokens - second.cached_tokens < 100  # only the persona is new input


def test_more_cache_marks_than_the_api_takes_keeps_the_latest_four(tmp_path):
    parts = [cached_text(""), *(cached_text(f"part {i}: " + "text " * 600) for i in range(5))]
    with ScriptedProvider(policy) as sp:
        config = scripted_config(sp, model="anthropic:claude-sonnet-4-6")
        with open_context(tmp_path / "run", config, env=scripted_env(sp)) as ctx:
            reply = ctx.models.ask(key=ctx.key("m"), role="phd", system=LONG_SYSTEM, commands=[Search],
                                   messages=[{"role": "user", "content": parts}])
    body = sp.requests[0].body
    marks = [b for b in body["messages"][0]["content"] if "cache_control" in b]
    assert sp.requests[0].status == 200 and reply.command is not None
    assert len(marks) == 2 and marks[-1]["text"].startswith("part 4")  # tool + system + the last two parts
    assert body["messages"][0]["content"][0]["text"]  # an empty part is sent as text the API takes


def test_scripted_service_refuses_what_anthropic_refuses(tmp_path):
    """The double's 400s, sent raw: five marks, and a mark on an empty text block."""
    mark = {"type": "ephemeral"}
    with ScriptedProvider(policy) as sp:
        url = sp.base_url_anthropic + "/v1/messages"
        headers = {"x-api-key": TEST_KEY, "anthropic-version": "2023-06-01"}
        five = {"model": "claude-sonnet-4-6", "max_tokens": 10, "system": [
            {"type": "text", "text": f"s{i}", "cache_control": mark} for i in range(5)],
            "messages": [{"role": "user", "content": "hi"}]}
        empty = {"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": [
            {"role": "user", "content": [{"type": "text", "text": "", "cache_control": mark}]}]}
        too_many = httpx.post(url, json=five, headers=headers)
        blank = httpx.post(url, json=empty, headers=headers)
    assert too_many.status_code == 400
    assert too_many.json()["error"]["message"] == "A maximum of 4 blocks with cache_control may be provided. Found 5."
    assert blank.status_code == 400 and "must be non-empty" in blank.json()["error"]["message"]


def test_openai_gets_a_cache_key_per_run_and_role_and_reports_cached_prefixes(tmp_path):
    with ScriptedProvider(policy) as sp:
        replies, key = ask_three(tmp_path, sp, "openai:gpt-4o", LONG_SYSTEM,
                                 lambda i: [{"role": "user", "content": f"turn {i}"}])
    keys = {req.body["prompt_cache_key"] for req in sp.requests}
    assert keys == {key} and key.startswith("labcoat-") and "professor" not in key and len(key) <= 64
    first, second, _ = (r.usage for r in replies)
    assert first.cached_tokens == 0
    assert second.cached_tokens >= 1024 and second.cached_tokens % 128 == 0
    assert second.input_tokens - second.cached_tokens < 128 + 20  # the tail past the last full step


@pytest.mark.parametrize("model", ["deepseek:deepseek-chat", "ollama:qwen2.5-coder:7b", "openrouter:openai/gpt-4o"])
def test_other_openai_compatible_servers_get_no_cache_key(tmp_path, model):
    with ScriptedProvider(policy) as sp:
        ask_three(tmp_path, sp, model, "S", lambda i: [{"role": "user", "content": f"turn {i}"}])
    assert sp.requests and all("prompt_cache_key" not in req.body for req in sp.requests)


def test_roles_and_runs_get_different_keys(tmp_path):
    with ScriptedProvider(policy) as sp:
        config = scripted_config(sp)
        with open_context(tmp_path / "a", config, env=scripted_env(sp)) as a, \
                open_context(tmp_path / "b", config, env=scripted_env(sp)) as b:
            keys = {a.models.cache_key("phd"), a.models.cache_key("professor"), b.models.cache_key("phd")}
            assert a.models.cache_key("phd") == a.models.cache_key("phd")
    assert len(keys) == 3
