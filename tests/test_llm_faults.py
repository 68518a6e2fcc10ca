"""Provider faults: retried then served, or a clean pause that `resume` continues at no extra cost."""

from __future__ import annotations

import threading
import time

import pytest

from labcoat.agents.commands import RunCode, Search
from labcoat.llm.faults import ProviderError
from labcoat.llm.registry import MalformedReply
from labcoat.run.runner import create_run, execute
from labcoat.store import open_store
from tests.support.scripted_provider import (BROKEN_BODY, ScriptedProvider, Truncated, hang, rate_limited,
                                             reply_command, scripted_config, scripted_env, server_error)
from tests.support.scripted_run import attach_scripted, ask_workflow, open_context

MSGS = [{"role": "user", "content": "find papers"}]


class Faulty:
    """Serves `faults` first (one per request), then a search command."""

    def __init__(self, *faults):
        self.faults = list(faults)
        self.lock = threading.Lock()

    def __call__(self, req):
        with self.lock:
            if self.faults:
                return self.faults.pop(0)
        return reply_command("search", query="found", source="all")


@pytest.mark.parametrize("model", ["openai:gpt-4o-mini", "anthropic:claude-sonnet-4-6"])
@pytest.mark.parametrize("fault", [rate_limited(0.05), server_error(500), server_error(503), BROKEN_BODY,
                                   hang(3.0)], ids=["429", "500", "503", "broken-body", "hang"])
def test_fault_is_retried_then_served(tmp_path, model, fault):
    with ScriptedProvider(Faulty(fault, fault)) as sp:
        config = scripted_config(sp, model=model, models={"request_timeout_s": 0.5})
        with open_context(tmp_path / "run", config, env=scripted_env(sp)) as ctx:
            reply = ctx.models.ask(key=ctx.key("s"), role="phd", system="S", messages=MSGS, commands=[Search])
            ledger = ctx.store.ledger()
    assert reply.command.query == "found"
    assert len(sp.requests) == 3
    assert len(ledger) == 1 and ledger[0]["input_tokens"] == sp.usage_reported[-1]["input_tokens"]
    assert any("retrying" in m for m in ctx.progress.messages)


def test_retry_after_is_honoured(tmp_path):
    waits: list[float] = []
    with ScriptedProvider(Faulty(rate_limited(0.4))) as sp:
        config = scripted_config(sp)
        with open_context(tmp_path / "run", config, env=scripted_env(sp),
                          sleep=lambda s: (waits.append(s), time.sleep(s))) as ctx:
            ctx.models.ask(key=ctx.key("s"), role="phd", system="S", messages=MSGS, commands=[Search])
    assert waits == [pytest.approx(0.4)]


def test_malformed_replies_are_answered_and_reasked(tmp_path):
    bad = [reply_command("serach", query="x"),                       # unknown command
           reply_command("search", source="all"),                    # missing field
           Truncated(reply_command("search", query="cut", source="all"))]  # truncated JSON
    with ScriptedProvider(Faulty(*bad)) as sp:
        config = scripted_config(sp, models={"reply_retries": 3})
        with open_context(tmp_path / "run", config, env=scripted_env(sp)) as ctx:
            reply = ctx.models.ask(key=ctx.key("s"), role="phd", system="S", messages=MSGS, commands=[Search])
            errors = ctx.store.events(kinds=["llm_reply_error"])
            effects = [ctx.store.get_effect(f"{ctx.key('s')}/llm/{i}") for i in range(4)]
    assert reply.command.query == "found" and reply.attempts == 4
    assert [e["payload"]["kind"] for e in errors] == ["unknown_command", "missing_field", "truncated"]
    assert all(row is not None for row in effects)  # every attempt is its own recorded effect
    # the model is shown the exact error before it is asked again
    last = sp.requests[-1].messages
    assert 'Unknown command "serach"' in last[2]["content"] and "missing field `query`" in last[4]["content"]
    assert "cut off" in last[6]["content"]
    assert reply.usage.input_tokens == sum(u["input_tokens"] for u in sp.usage_reported)


def test_schema_violating_json_is_reasked(tmp_path):
    policy = Faulty('{"command": "search", "query": 5}', '{"command": "search", "query": "ok", "source": "all"}')
    with ScriptedProvider(policy) as sp:
        config = scripted_config(sp, model="ollama:llama3")
        with open_context(tmp_path / "run", config, env=scripted_env(sp)) as ctx:
            reply = ctx.models.ask(key=ctx.key("s"), role="phd", system="S", messages=MSGS, commands=[Search])
    assert reply.command.query == "ok" and reply.attempts == 2
    assert "field `query`" in sp.requests[-1].messages[-1]["content"]


def test_reply_retries_run_out_pauses_and_more_reasks_resume(tmp_path):
    answers = Faulty("no tools today", "still no tools", "nor now")
    asks = [{"messages": MSGS, "commands": [Search]}]
    with ScriptedProvider(answers) as sp:
        config = scripted_config(sp, models={"reply_retries": 1})
        run_dir = create_run(config, tmp_path / "run")
        env = scripted_env(sp)
        execute(run_dir, ask_workflow(asks), attach=attach_scripted(env))
        with open_store(run_dir) as store:
            info = store.info()
        assert info.state == "paused" and "2 attempts" in info.message and "models.reply_retries=" in info.message
        assert len(sp.requests) == 2
        results: list = []
        execute(run_dir, ask_workflow(asks, results), attach=attach_scripted(env), resumed=True,
                overrides=["models.reply_retries=4"])
        with open_store(run_dir) as store:
            assert store.info().state == "finished"
    # the two recorded attempts were replayed; attempts 3 and 4 went live
    assert len(sp.requests) == 4 and results[-1][0].attempts == 4
    assert results[-1][0].command.query == "found"


def test_reply_retries_run_out(tmp_path):
    with ScriptedProvider(lambda r: "I refuse to use tools.") as sp:
        config = scripted_config(sp, models={"reply_retries": 1})
        with open_context(tmp_path / "run", config, env=scripted_env(sp)) as ctx:
            with pytest.raises(MalformedReply, match="2 attempts; last error: Your reply called no command"):
                ctx.models.ask(key=ctx.key("s"), role="phd", system="S", messages=MSGS, commands=[RunCode])
    assert len(sp.requests) == 2


def test_provider_down_pauses_the_run_and_resume_continues(tmp_path):
    down = {"on": False}

    def policy(req):
        if down["on"]:
            return server_error(503)
        return reply_command("search", query=f"q{len(req.messages)}", source="all")

    asks = [{"messages": MSGS, "commands": [Search]}, {"messages": MSGS + [{"role": "user", "content": "more"}],
                                                       "commands": [Search]}]
    with ScriptedProvider(policy) as sp:
        config = scripted_config(sp, models={"retries": 2})
        run_dir = create_run(config, tmp_path / "run")
        env = scripted_env(sp)
        results: list = []
        # first run: the first call is served, then the provider is down for the second
        sp.policy = lambda req: (down.__setitem__("on", len(sp.served) >= 1) or policy(req))
        ctx = execute(run_dir, ask_workflow(asks, results), attach=attach_scripted(env))
        with open_store(run_dir) as store:
            info = store.info()
            assert info.state == "paused" and "503" in info.message and f"labcoat resume {ctx.run_id}" in info.message
            assert len(store.ledger()) == 1
        assert len(sp.requests) == 1 + 3  # one served, then 1 try + 2 retries

        down["on"] = False
        sp.policy = policy
        before = len(sp.requests)
        ctx = execute(run_dir, ask_workflow(asks, results), attach=attach_scripted(env), resumed=True)
        with open_store(run_dir) as store:
            assert store.info().state == "finished"
            assert len(store.ledger()) == 2
        # the first call was replayed from the store: only the second reached the provider
        assert len(sp.requests) == before + 1
        assert results[-1][0].replayed and not results[-1][1].replayed
        assert results[-1][0].command.query == "q1"


def test_a_refused_request_fails_at_once_without_the_key(tmp_path):
    from tests.support.scripted_provider import Fault, TEST_KEY

    refusal = Fault("status", 404, message=f"The model does not exist (key {TEST_KEY}).")
    with ScriptedProvider(lambda r: refusal) as sp:
        config = scripted_config(sp)
        with open_context(tmp_path / "run", config, env=scripted_env(sp)) as ctx:
            with pytest.raises(ProviderError, match="404") as info:
                ctx.models.ask(key=ctx.key("s"), role="phd", system="S", messages=MSGS)
    assert len(sp.requests) == 1  # not retried: repeating it cannot help
    assert TEST_KEY not in str(info.value) and "[redacted]" in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__
