"""A turn whose replies never hold a valid command is skipped, recorded and said once;
the phase goes on. Where nothing can go on without it (the plan), the run pauses."""

from __future__ import annotations

import pytest

from labcoat.phases import default_workflow
from labcoat.run.runner import create_run, execute
from labcoat.run.services import attach
from labcoat.store import open_store
from labcoat.store.transcript import render_event

from tests.support import lab_policies as lab
from tests.support.lab_services import LabScript, lab_config, recorded_arxiv
from tests.support.scripted_provider import TEST_KEY, ScriptedProvider


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
    monkeypatch.setenv("LABCOAT_CACHE_DIR", str(tmp_path / "cache"))


def _run(tmp_path, httpserver, policy, steps):
    with ScriptedProvider(LabScript({"plan_formulation": policy})) as sp:
        config = lab_config(sp, httpserver, phases=["plan_formulation"], models={"default": "openai:gpt-4o-mini",
                                                                                  "reply_retries": 1},
                            budget={"phase_steps": {"plan_formulation": steps}})
        run_dir = create_run(config, tmp_path / "run")
        ctx = execute(run_dir, default_workflow, attach=attach)
        return run_dir, ctx, sp


def test_a_turn_without_a_valid_command_is_skipped_and_the_phase_goes_on(tmp_path, httpserver, fixtures_dir, env):
    recorded_arxiv(fixtures_dir, httpserver)

    calls = {"postdoc": 0}

    def policy(request, role, step):
        if role == "postdoc":
            calls["postdoc"] += 1
            if calls["postdoc"] <= 2:  # step 1 and its one re-ask: no command
                return "I would rather ramble than call a tool."
        return lab.planning(request, role, step)

    run_dir, ctx, _ = _run(tmp_path, httpserver, policy, steps=4)
    with open_store(run_dir, readonly=True) as store:
        assert store.info().state == "finished", store.info().message
        skipped = [e["payload"] for e in store.events(kinds=["turn_skipped"])]
        feedback = [e["payload"] for e in store.events(kinds=["lab_feedback"])]
        warnings = [e["payload"]["message"] for e in store.events(kinds=["warning"])]
        plan = store.artefact("plan_formulation")["data"]
    assert [(s["role"], s["key"]) for s in skipped] == [("postdoc", "plan_formulation#0/step/1/postdoc")]
    assert "2 attempts" in skipped[0]["error"]
    assert feedback[0]["skipped"] == "postdoc" and "no valid command" in feedback[0]["text"]
    assert warnings == ["the postdoc sent replies with no valid command in plan_formulation; those turns were "
                        "skipped (see the transcript)"]
    assert plan["question"] == lab.PLAN["question"]
    with open_store(run_dir, readonly=True) as store:  # `labcoat show` names the skip
        shown = render_event(store.events(kinds=["turn_skipped"])[0])
    assert "postdoc sent no valid command; turn skipped" in shown and "2 attempts" in shown
    # A resume replays the skipped turn from the record: nothing is asked again.
    again = execute(run_dir, default_workflow, attach=attach, resumed=True)
    assert again.effects.executed == 0 and again.effects.diverged_at is None
    assert again.warnings == ctx.warnings


def test_without_a_plan_the_run_pauses_and_says_how_to_go_on(tmp_path, httpserver, fixtures_dir, env):
    recorded_arxiv(fixtures_dir, httpserver)
    run_dir, _, _ = _run(tmp_path, httpserver, lambda request, role, step: "No tool for me.", steps=2)
    with open_store(run_dir, readonly=True) as store:
        info = store.info()
        skipped = store.events(kinds=["turn_skipped"])
    assert info.state in ("paused", "failed")
    assert "ended without a plan" in info.message and "models.reply_retries=8" in info.message
    assert len(skipped) == 5  # two dialogue steps and three final turns, each recorded


def test_show_renders_the_phds_refinement_decision():
    ev = {"ts": 0, "phase": "report_refinement", "kind": "refinement_decision", "pos": 1,
          "payload": {"decision": "revisit", "phase": "report_writing", "reason": "numbers <b>unclear</b>",
                      "round": 0, "rounds_left": 1}}
    line = render_event(ev)
    assert "PhD decision: back to report_writing" in line and "rounds used 0, left 1" in line
    assert line.endswith("numbers <b>unclear</b>")
