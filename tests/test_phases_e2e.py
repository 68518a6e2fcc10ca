"""The first four phases end to end: scripted model on loopback, recorded arXiv
feeds on loopback, the real sandbox, the real run store.

The experiments phase between data preparation and interpretation is a
stand-in returning a fixed Results artefact (the mle-solver has its own tests).
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys

import pytest

from labcoat.artefacts import MetricValue, Results
from labcoat.workflow.gates import GateAnswer, ScriptedGate
from labcoat.phases import available_phases
from labcoat.run.runner import create_run, execute
from labcoat.run.services import attach
from labcoat.store import open_store
from labcoat.workflow import Phase, Workflow

from tests.support import lab_policies as lab
from tests.support.lab_services import LabScript, lab_config, recorded_arxiv
from tests.support.scripted_provider import TEST_KEY, ScriptedProvider

FOUR = ["literature_review", "plan_formulation", "data_preparation", "results_interpretation"]


def stand_in_results(ctx) -> Results:
    return Results(metrics=[MetricValue(name="accuracy", value=0.9649122807, split="dev", source="s1c0")],
                   best_code="print('stand-in')")


def workflow_factory(config):
    phases = available_phases()
    chosen = [phases[p] for p in config.phases]
    if "results_interpretation" in config.phases:
        chosen.insert(config.phases.index("results_interpretation"), Phase("running_experiments", stand_in_results))
    return Workflow(chosen)


def policies(**overrides):
    table = {"literature_review": lab.literature, "plan_formulation": lab.planning,
             "data_preparation": lab.data_prep, "results_interpretation": lab.interpretation}
    table.update(overrides)
    return LabScript(table)


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
    monkeypatch.setenv("LABCOAT_CACHE_DIR", str(tmp_path / "cache"))


def config_for(sp, httpserver, **sections):
    budget = {"lit_review_papers": 2, "phase_steps": {"literature_review": 8, "plan_formulation": 6,
                                                      "data_preparation": 6, "results_interpretation": 6}}
    budget.update(sections.pop("budget", {}))
    sections.setdefault("phases", FOUR)
    return lab_config(sp, httpserver, budget=budget, **sections)


def events(run_dir, kind=None):
    with open_store(run_dir, readonly=True) as store:
        return [e for e in store.events() if kind is None or e["kind"] == kind]


def artefact(run_dir, name):
    with open_store(run_dir, readonly=True) as store:
        return store.artefact(name)["data"]


def test_four_phases_produce_their_artefacts_and_survive_misbehaviour(tmp_path, httpserver, fixtures_dir, env):
    recorded_arxiv(fixtures_dir, httpserver)
    script = policies()
    with ScriptedProvider(script) as sp:
        run_dir = create_run(config_for(sp, httpserver), tmp_path / "run")
        execute(run_dir, workflow_factory, attach=attach)
    with open_store(run_dir, readonly=True) as store:
        info = store.info()
    assert info.state == "finished", info.message

    review = artefact(run_dir, "literature_review")
    assert len(review["papers"]) == 2 and len({p["id"] for p in review["papers"]}) == 2
    assert all(p["bibtex"].startswith("@") and p["bibtex_key"] in p["bibtex"] for p in review["papers"])
    # what was read of each paper is recorded with it: the abstract shown before it was added
    assert all(p["reads"][0]["part"].startswith("abstract") and p["reads"][0]["text"] for p in review["papers"])
    feedback = [e["payload"] for e in events(run_dir, "lab_feedback")]
    refusals = [f.get("refused") for f in feedback if f.get("refused")]
    assert refusals.count("repeat") >= 1          # the same search twice
    assert "not_retrieved" in refusals             # a paper never retrieved
    assert "duplicate" in refusals                 # the same paper twice
    assert "failed_run" in refusals                # data code that crashed
    assert "unrecorded_numbers" in refusals        # an interpretation with a made-up number

    plan = artefact(run_dir, "plan_formulation")
    assert plan["question"] == lab.PLAN["question"] and plan["metrics"][0]["name"] == "accuracy"

    data = artefact(run_dir, "data_preparation")
    assert data["attempts"] == 2 and "ValueError" not in data["output"]
    assert data["sizes"]["wine_train"] == 106 and data["sizes"]["breast_cancer_test"] == 114
    assert (run_dir / data["data_dir"] / "wine.npz").exists()

    interp = artefact(run_dir, "results_interpretation")
    assert "0.9649" in interp["text"] and set(interp["numbers_used"]) == {0.9649}

    shown = subprocess.run([sys.executable, "-m", "labcoat", "show", str(run_dir), "--phase",
                            "literature_review"], capture_output=True, text=True, timeout=60,
                           env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"})
    assert shown.returncode == 0, shown.stderr
    assert "add_paper" in shown.stdout and "Refused" in shown.stdout


def test_step_caps_end_phases_with_a_recorded_reason(tmp_path, httpserver, fixtures_dir, env):
    recorded_arxiv(fixtures_dir, httpserver)
    stubborn = functools.partial(lab.planning, stubborn=True)

    def never_adds(request, role, step):
        return lab.reply_command("search", query=f"scaling query {step}", source="arxiv")

    script = policies(plan_formulation=stubborn, literature_review=never_adds)
    with ScriptedProvider(script) as sp:
        config = config_for(sp, httpserver, phases=FOUR[:2],
                            budget={"phase_steps": {"literature_review": 3, "plan_formulation": 4}})
        run_dir = create_run(config, tmp_path / "run")
        execute(run_dir, workflow_factory, attach=attach)
    warnings = [e["payload"]["message"] for e in events(run_dir, "warning")]
    assert any("step cap (3) with 0 of 2 papers" in w for w in warnings)
    assert any("plan formulation reached its step cap (4)" in w for w in warnings)
    assert artefact(run_dir, "plan_formulation")["question"] == lab.PLAN["question"]
    # the final forced turn offered only `plan`
    assert ("plan_formulation", "postdoc", 4) in script.calls
    assert script.calls.count(("literature_review", "phd", 3)) == 1


@pytest.mark.parametrize("learns", [True, False])
def test_a_plan_naming_no_metric_is_refused_once_then_kept(tmp_path, httpserver, fixtures_dir, env, learns):
    recorded_arxiv(fixtures_dir, httpserver)
    submitted: list[list] = []

    def planning(request, role, step):
        if "plan" not in request.command_names:
            return lab.planning(request, role, step)
        refused = "the plan names no metric" in "\n".join(m["content"] for m in request.messages)
        plan = dict(lab.PLAN, metrics=lab.PLAN["metrics"] if refused and learns else [])
        submitted.append(plan["metrics"])
        return lab.reply_command("plan", **plan)

    with ScriptedProvider(policies(plan_formulation=planning)) as sp:
        config = config_for(sp, httpserver, phases=FOUR[:2], budget={"lit_review_papers": 0})
        run_dir = create_run(config, tmp_path / "run")
        execute(run_dir, workflow_factory, attach=attach)
    plan = artefact(run_dir, "plan_formulation")
    assert len(submitted) == 2 and submitted[0] == []  # refused once, then the second submission is taken
    refusals = [e for e in events(run_dir, "lab_feedback") if e["payload"].get("refused") == "no_metric"]
    assert len(refusals) == 1
    warnings = [e["payload"]["message"] for e in events(run_dir, "warning") if "names no metric" in e["payload"]["message"]]
    if learns:
        assert plan["metrics"][0]["name"] == "accuracy" and warnings == []
    else:
        assert plan["metrics"] == [] and len(warnings) == 1


def test_copilot_revision_reaches_the_next_prompt(tmp_path, httpserver, fixtures_dir, env):
    recorded_arxiv(fixtures_dir, httpserver)
    seen_systems: list[str] = []

    def planning(request, role, step):
        seen_systems.append(request.system)
        return lab.planning(request, role, step)

    gate = ScriptedGate(lambda phase, attempt, summary: GateAnswer("revise", "Add a fourth data set: digits.")
                        if (phase, attempt) == ("plan_formulation", 0) else GateAnswer("approve"))
    with ScriptedProvider(policies(plan_formulation=planning)) as sp:
        config = config_for(sp, httpserver, phases=FOUR[:2], copilot={"enabled": True},
                            budget={"lit_review_papers": 0})
        run_dir = create_run(config, tmp_path / "run")
        execute(run_dir, workflow_factory, attach=attach, gate=gate)
    assert ("plan_formulation", 0) in gate.asked and ("plan_formulation", 1) in gate.asked
    first_attempt = [s for s in seen_systems if "digits" not in s]
    second_attempt = [s for s in seen_systems if "Add a fourth data set: digits." in s]
    assert first_attempt and second_attempt
    plan_gates = [e["payload"]["decision"] for e in events(run_dir, "gate") if e["phase"] == "plan_formulation"]
    assert plan_gates == ["revise", "approve"]


def test_language_reaches_prompts_and_artefacts_stay_intact(tmp_path, httpserver, fixtures_dir, env):
    recorded_arxiv(fixtures_dir, httpserver)
    chinese = dict(lab.PLAN, question="标准化特征会改变三种分类器的排名吗？", hypotheses=["标准化对逻辑回归有帮助。"])
    systems: list[str] = []

    def planning(request, role, step):
        systems.append(request.system)
        return lab.planning(request, role, step, plan=chinese)

    with ScriptedProvider(policies(plan_formulation=planning)) as sp:
        config = config_for(sp, httpserver, phases=FOUR[:2], language="中文", budget={"lit_review_papers": 0})
        run_dir = create_run(config, tmp_path / "run")
        execute(run_dir, workflow_factory, attach=attach)
    assert systems and all("Write every message, summary and artefact in 中文" in s for s in systems)
    plan = artefact(run_dir, "plan_formulation")
    assert plan["question"] == chinese["question"] and plan["hypotheses"] == chinese["hypotheses"]
    raw = (run_dir / "run.db").read_bytes()
    assert "标准化特征".encode("utf-8") in raw or json.dumps(chinese["question"]).encode() in raw


def test_kill_after_a_gate_answer_and_resume_never_asks_it_again(tmp_path, httpserver, fixtures_dir, env):
    """A co-pilot answer is a recorded effect: SIGKILL right after it, resume, and it is not asked twice."""
    import threading

    from tests.support.gate_app import NOTE, LoggingGate, kill_when

    recorded_arxiv(fixtures_dir, httpserver)
    release = threading.Event()
    systems: list[str] = []

    def planning(request, role, step):
        systems.append(request.system)
        if NOTE in request.system and not release.is_set():
            release.wait(30)  # hold the revised attempt's first call until the child is killed
        return lab.planning(request, role, step)

    asked_log = tmp_path / "asked.log"
    with ScriptedProvider(policies(plan_formulation=planning), hang_cap_s=40) as sp:
        config = config_for(sp, httpserver, phases=FOUR[:2], copilot={"enabled": True},
                            budget={"lit_review_papers": 0})
        run_dir = create_run(config, tmp_path / "run")
        kill_when(run_dir, asked_log, lambda: any(NOTE in s for s in systems), release,
                  what="the revised attempt never started")
        assert asked_log.read_text().split("\n").count("plan_formulation 0") == 1

        gate = LoggingGate(asked_log)
        execute(run_dir, workflow_factory, attach=attach, gate=gate, resumed=True)
    asked = asked_log.read_text().split("\n")
    assert asked.count("plan_formulation 0") == 1      # answered before the kill, never asked again
    assert asked.count("plan_formulation 1") == 1
    with open_store(run_dir, readonly=True) as store:
        assert store.info().state == "finished"


def test_data_preparation_falls_back_to_bundled_data_and_says_so(tmp_path, httpserver, fixtures_dir, env):
    recorded_arxiv(fixtures_dir, httpserver)

    def hopeless(request, role, step):
        if role == "ml_engineer":
            return lab.reply_command("dialogue", text="Still failing.")
        return lab.reply_command("submit_code", data_source="x", data_version="y", subsampling=[],
                                 body=lab.CRASHING_CODE)

    with ScriptedProvider(policies(data_preparation=hopeless)) as sp:
        config = config_for(sp, httpserver, phases=FOUR[:3], budget={"lit_review_papers": 0,
                                                                     "phase_steps": {"data_preparation": 2}})
        run_dir = create_run(config, tmp_path / "run")
        execute(run_dir, workflow_factory, attach=attach)
    data = artefact(run_dir, "data_preparation")
    assert data["fallback"] is True and data["data_source"].endswith("breast_cancer, wine")
    assert data["sizes"]["wine_dev"] == 36 and (run_dir / data["data_dir"] / "breast_cancer.npz").exists()
    warnings = [e["payload"]["message"] for e in events(run_dir, "warning")]
    assert any("labcoat prepared scikit-learn's bundled data sets instead" in w for w in warnings)
