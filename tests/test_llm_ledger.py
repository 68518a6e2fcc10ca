"""Cost ledger, budget cap, replay at no cost, and keys that never reach disk."""

from __future__ import annotations

import genai_prices
import pytest

from labcoat.agents.commands import RunCode, Search
from labcoat.errors import BudgetExceeded
from labcoat.run.runner import create_run, execute
from labcoat.store import open_store
from tests.support.scripted_provider import (TEST_KEY, ScriptedProvider, reply_command, scripted_config,
                                             scripted_env)
from tests.support.scripted_run import RecordingProgress, ask_workflow, attach_scripted, open_context


def search_policy(req):
    if "run_code" in req.command_names:
        return reply_command("run_code", body="print(42)", text="Here.")
    return reply_command("search", query=f"turn {len(req.messages)}", source="all")


LONG_SYSTEM = "You are a PhD student who keeps every command short and every claim sourced. " * 130


def asks_for(n, model_roles=None, system="You are a PhD student."):
    out = []
    for i in range(n):
        msgs = [{"role": "user", "content": f"step {j}: " + "context " * 20} for j in range(i + 1)]
        # a role keeps its commands and long system prompt: their prefix is cached from its second call on
        out.append({"messages": msgs, "commands": [Search, RunCode] if i % 3 == 1 else [Search], "max_tokens": 64,
                    "system": system,
                    **({"role": model_roles[i % len(model_roles)]} if model_roles else {})})
    return out


def test_ledger_sums_equal_reported_usage_and_replay_costs_nothing(tmp_path):
    roles = ["phd", "postdoc", "professor"]
    with ScriptedProvider(search_policy) as sp:
        config = scripted_config(sp, model="openai:gpt-4o", models={
            "roles": {"postdoc": "anthropic:claude-sonnet-4-6", "professor": "openai:o3-mini"}})
        run_dir = create_run(config, tmp_path / "run")
        env = scripted_env(sp)
        progress = RecordingProgress()
        execute(run_dir, ask_workflow(asks_for(6, roles, LONG_SYSTEM)), attach=attach_scripted(env), progress=progress)
        with open_store(run_dir) as store:
            assert store.info().state == "finished", store.info().message
            ledger = store.ledger()
        served = len(sp.requests)
        assert served == 6 == len(ledger)
        for kind in ("input_tokens", "cached_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens"):
            assert sum(r[kind] for r in ledger) == sum(u[kind] for u in sp.usage_reported), kind
        assert sum(r["reasoning_tokens"] for r in ledger) > 0
        # OpenAI and Anthropic both served a role's second call from cache; Anthropic billed the write
        cached = {(r["model"], r["role"]) for r in ledger if r["cached_tokens"]}
        assert {("openai:gpt-4o", "phd"), ("anthropic:claude-sonnet-4-6", "postdoc")} <= cached
        assert [r["cache_write_tokens"] > 0 for r in ledger if r["model"].startswith("anthropic")] == [True, False]
        assert {r["model"] for r in ledger} == {"openai:gpt-4o", "anthropic:claude-sonnet-4-6", "openai:o3-mini"}
        assert {r["role"] for r in ledger} == set(roles) and {r["phase"] for r in ledger} == {"literature_review"}
        # dollars agree with genai-prices computed independently from what the server reported
        for row in ledger:
            name, provider = row["model"].split(":")[1], row["model"].split(":")[0]
            expected = genai_prices.calc_price(genai_prices.Usage(
                input_tokens=row["input_tokens"], cache_read_tokens=row["cached_tokens"] or None,
                cache_write_tokens=row["cache_write_tokens"] or None,
                output_tokens=row["output_tokens"]), name, provider_id=provider).total_price
            assert row["dollars"] == pytest.approx(float(expected))
        spent = sum(d for _, d in progress.spent)
        assert spent == pytest.approx(sum(r["dollars"] for r in ledger)) and spent > 0

        # replaying the finished run asks the provider nothing and adds no cost
        progress2 = RecordingProgress()
        execute(run_dir, ask_workflow(asks_for(6, roles, LONG_SYSTEM)), attach=attach_scripted(env), progress=progress2,
                resumed=True)
        assert len(sp.requests) == served and progress2.spent == []
        with open_store(run_dir) as store:
            assert store.ledger() == ledger


def test_budget_cap_stops_before_overspending_and_resume_continues(tmp_path):
    cap = 0.002
    with ScriptedProvider(search_policy) as sp:
        config = scripted_config(sp, model="openai:gpt-4o", budget={"dollars": cap})
        run_dir = create_run(config, tmp_path / "run")
        env = scripted_env(sp)
        asks = asks_for(8)
        execute(run_dir, ask_workflow(asks), attach=attach_scripted(env))
        with open_store(run_dir) as store:
            info = store.info()
            spent = store.dollars_spent()
            made = len(store.ledger())
        assert info.state == "paused" and "budget reached" in info.message
        assert f"labcoat resume {run_dir.name} --set budget.dollars=" in info.message
        assert 0 < made < 8 and len(sp.requests) == made
        assert spent <= cap

        results: list = []
        execute(run_dir, ask_workflow(asks, results), attach=attach_scripted(env), resumed=True,
                overrides=["budget.dollars=1.0"])
        with open_store(run_dir) as store:
            assert store.info().state == "finished"
            assert len(store.ledger()) == 8 and store.dollars_spent() <= 1.0
        assert len(sp.requests) == 8
        assert sum(r.replayed for r in results[-1]) == made


def test_budget_check_uses_the_price_and_max_tokens(tmp_path):
    with ScriptedProvider(search_policy) as sp:
        config = scripted_config(sp, model="openai:gpt-4o", budget={"dollars": 0.001})
        with open_context(tmp_path / "run", config, env=scripted_env(sp)) as ctx:
            # 64 output tokens at $10/M is well under the cap; 100k would pass it
            ctx.models.ask(key=ctx.key("a"), role="phd", system="S", max_tokens=64,
                           messages=[{"role": "user", "content": "hi"}])
            with pytest.raises(BudgetExceeded, match="could cost up to"):
                ctx.models.ask(key=ctx.key("b"), role="phd", system="S", max_tokens=100_000,
                               messages=[{"role": "user", "content": "hi"}])
    assert len(sp.requests) == 1


def test_price_overrides_and_unpriced_models(tmp_path):
    with ScriptedProvider(search_policy) as sp:
        config = scripted_config(sp, model="ollama:llama3", prices={
            "ollama:llama3": {"input_per_mtok": 1.0, "output_per_mtok": 2.0}},
            models={"roles": {"postdoc": "vllm:my-finetune"}})
        with open_context(tmp_path / "run", config, env=scripted_env(sp)) as ctx:
            priced = ctx.models.ask(key=ctx.key("a"), role="phd", system="S",
                                    messages=[{"role": "user", "content": "hi"}])
            free = [ctx.models.ask(key=ctx.key("b", i), role="postdoc", system="S",
                                   messages=[{"role": "user", "content": "hi"}]) for i in range(2)]
            warnings = [m for m in ctx.progress.messages if "vllm:my-finetune" in m]
    u = sp.usage_reported[0]
    assert priced.dollars == pytest.approx((u["input_tokens"] * 1.0 + u["output_tokens"] * 2.0) / 1e6)
    assert all(r.dollars == 0.0 for r in free)
    assert len(warnings) == 1 and "$0" in warnings[0]


def test_auto_model_is_resolved_once_and_announced(tmp_path):
    with ScriptedProvider(search_policy) as sp:
        config = scripted_config(sp, model="auto")
        env = {"OPENAI_API_KEY": TEST_KEY}
        with open_context(tmp_path / "run", config, env=env) as ctx:
            reply = ctx.models.ask(key=ctx.key("a"), role="phd", system="S", commands=[Search],
                                   messages=[{"role": "user", "content": "hi"}])
            notes = [m for m in ctx.progress.messages if "model: auto chose" in m]
    assert reply.command is not None and sp.requests[0].body["model"] == "gpt-4o-mini"
    assert len(notes) == 1 and "OPENAI_API_KEY" in notes[0]


def test_no_key_value_reaches_disk(tmp_path):
    wrong = "sk-wrongkey-91c2e7d0a4b3f5e6"
    with ScriptedProvider(search_policy) as sp:
        env = scripted_env(sp)
        config = scripted_config(sp, model="openai:gpt-4o", models={
            "roles": {"postdoc": "anthropic:claude-sonnet-4-6"}})
        good = create_run(config, tmp_path / "good")
        execute(good, ask_workflow(asks_for(4, ["phd", "postdoc"])), attach=attach_scripted(env))
        bad = create_run(config, tmp_path / "bad")
        execute(bad, ask_workflow(asks_for(2)), attach=attach_scripted({**env, "OPENAI_API_KEY": wrong}))
        with open_store(bad) as store:
            info = store.info()
        assert info.state == "paused" and "401" in info.message
    assert any(wrong in r.headers.get("authorization", "") for r in sp.requests)  # the key was really sent
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "run.db" for p in files)
    for path in files:
        data = path.read_bytes()
        assert TEST_KEY.encode() not in data, path
        assert wrong.encode() not in data, path


def test_parallel_calls_never_pass_the_cap_together(tmp_path):
    import concurrent.futures
    import threading

    gate = threading.Barrier(2, timeout=5)

    def slow_policy(req):
        try:
            gate.wait()  # admitted calls meet here, in flight at the same time
        except threading.BrokenBarrierError:
            pass
        return "done"

    cap = 0.0015  # room for two 64-token gpt-4o calls at their worst case, not four
    with ScriptedProvider(slow_policy) as sp:
        config = scripted_config(sp, model="openai:gpt-4o", budget={"dollars": cap})
        with open_context(tmp_path / "run", config, env=scripted_env(sp)) as ctx:
            def one(i):
                try:
                    return ctx.models.ask(key=ctx.key("cand", i), role="ml_engineer", system="S", max_tokens=64,
                                          messages=[{"role": "user", "content": f"candidate {i}"}])
                except BudgetExceeded as exc:
                    return exc
            with concurrent.futures.ThreadPoolExecutor(4) as pool:
                outcomes = list(pool.map(one, range(4)))
            gate.abort()
            spent = ctx.store.dollars_spent()
    refused = [o for o in outcomes if isinstance(o, BudgetExceeded)]
    assert 1 <= len(refused) < 4 and len(sp.requests) == 4 - len(refused)
    assert spent <= cap
