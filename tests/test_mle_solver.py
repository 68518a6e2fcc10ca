"""mle-solver: scripted ML engineer, real sandbox, real scikit-learn on its bundled data."""

from __future__ import annotations

import pytest

from labcoat.artefacts import DataCode, MetricSpec, Plan
from labcoat.phases import running_experiments
from labcoat.run.runner import create_run, execute
from labcoat.run.services import attach
from labcoat.solvers.mle.commands import Verdict
from labcoat.solvers.mle.ranking import Pool, Ranker
from labcoat.solvers.mle.assessment import match_verdicts, output_unsaid
from labcoat.store import open_store
from labcoat.store.event_text import describe
from labcoat.workflow import Phase, Workflow

from tests.support import mle_policies as mle
from tests.support.lab_policies import reply_command
from tests.support.lab_services import LabScript, lab_config
from tests.support.scripted_provider import TEST_KEY, ScriptedProvider

PLAN = Plan(question="Which model should we ship for tumour diagnosis?", method="compare models",
            metrics=[MetricSpec(name="accuracy", higher_is_better=True, split="dev")],
            protocol="select on dev, test once")


def workflow(config, plan=PLAN):
    return Workflow([Phase("plan_formulation", lambda ctx: plan),
                     Phase("data_preparation", lambda ctx: DataCode(code="# bundled data")),
                     Phase(running_experiments.NAME, running_experiments.run)])


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
    monkeypatch.setenv("LABCOAT_CACHE_DIR", str(tmp_path / "cache"))


def run_solver(tmp_path, httpserver, policy, *, steps=1, batch=2, repairs=3, top_k=2, seed=7, workers=2, plan=PLAN):
    with ScriptedProvider(LabScript({"running_experiments": policy})) as sp:
        config = lab_config(sp, httpserver, phases=[], seed=seed, mle={"use_seeds": False},
                            budget={"mle_steps": steps, "mle_candidates": batch, "mle_repairs": repairs,
                                    "mle_top_k": top_k},
                            executor={"workers": workers})
        run_dir = create_run(config, tmp_path / "run")
        ctx = execute(run_dir, lambda config: workflow(config, plan), attach=attach)
    assert ctx.failure is None, ctx.failure
    with open_store(run_dir, readonly=True) as store:
        assert store.info().state == "finished", store.info().message
        results = store.artefact("running_experiments")["data"]
        events = store.events()
        execs = [k for (k,) in store.db.execute("SELECT key FROM effects WHERE kind='exec'")]
    return results, events, execs


def nodes_by_id(results):
    return {n["id"]: n for n in results["journal"]}


def test_edits_improve_a_real_metric_and_a_crash_is_repaired(tmp_path, httpserver, env):
    def propose(request, n):
        # candidate 0 swaps in a real model; candidate 1 breaks the program
        return mle.swap_model(request, mle.GOOD_MODEL if n == 1 else mle.BROKEN_MODEL)

    def repair(request, n):
        return mle.swap_model(request, mle.GOOD_MODEL.replace("5000", "4000"))

    results, events, execs = run_solver(tmp_path, httpserver, mle.mle_policy(propose=propose, repair=repair))
    nodes = nodes_by_id(results)
    start = nodes["s0c0"]
    assert start["operation"] == "generate" and start["status"] == "ok" and start["metric"] < 0.7
    improved = nodes["s1c0"]
    assert improved["operation"] == "edit" and improved["parent"] == "s0c0"
    assert improved["status"] == "ok" and improved["metric"] > start["metric"] + 0.25
    assert nodes["s1c1"]["status"] == "failed" and "NoSuchClassifier" in nodes["s1c1"]["stderr"]
    repaired = nodes["s1c1r1"]
    assert repaired["operation"] == "repair" and repaired["repair_of"] == "s1c1" and repaired["status"] == "ok"
    repaired_ids = {n["repair_of"] for n in results["journal"]}
    assert all(n["reflection"] for n in results["journal"] if n["id"] not in repaired_ids)  # every attempt's outcome
    assert all(0 <= n["reward"] <= 1 for n in results["journal"] if n["status"] == "ok")
    # selection reads dev only; the test split ran exactly once, for the chosen program
    assert all(m["split"] != "test" for n in results["journal"] for m in n["metrics"])
    assert [k for k in execs if "final" in k] == ["running_experiments#0/mle/final/test"]
    assert [m["split"] for m in results["test_metrics"]] == ["test"]
    assert results["metrics"][0]["value"] == pytest.approx(max(improved["metric"], repaired["metric"]))


def test_still_broken_after_nrep_is_dropped_and_a_fake_repair_is_refused(tmp_path, httpserver, env):
    def propose(request, n):
        return mle.swap_model(request, mle.BROKEN_MODEL)

    def repair(request, n):
        if "FAKE" in request.last_user or n % 2 == 0:
            return reply_command("replace", body=mle.FAKE)
        return mle.swap_model(request, mle.BROKEN_MODEL.replace("NoSuch", "StillNoSuch"))

    results, events, _ = run_solver(tmp_path, httpserver, mle.mle_policy(propose=propose, repair=repair),
                                    repairs=2)
    finals = {c: [n for n in results["journal"] if n["step"] == 1 and n["candidate"] == c][-1] for c in (0, 1)}
    assert all(n["status"] != "ok" for n in finals.values())
    refused = [n for n in results["journal"] if n["status"] == "refused"]
    assert refused and "literal" in refused[0]["refusal"] or "no longer trains" in refused[0]["refusal"]
    dropped = [e["payload"]["nodes"] for e in events if e["kind"] == "mle_dropped"]
    assert dropped and set(dropped[0]) == {finals[0]["id"], finals[1]["id"]}
    # the step went on: the pool still holds the working start, which is what was tested
    assert results["metrics"][0]["source"] == "s0c0"
    assert len([n for n in results["journal"] if n["step"] == 1 and n["candidate"] == 0]) == 3  # 1 + Nrep


def test_four_candidates_run_at_once_and_the_pool_keeps_the_top_k(tmp_path, httpserver, env):
    def propose(request, n):
        return mle.swap_model(request, mle.GOOD_MODEL if n % 2 else "model = DummyClassifier(strategy='prior')")

    results, events, _ = run_solver(tmp_path, httpserver, mle.mle_policy(propose=propose, repair=propose,
                                                                         work=2_000_000),
                                    batch=4, top_k=2, workers=2)
    windows = []
    for node in results["journal"]:
        line = [x for x in node["stdout"].splitlines() if x.startswith("window ")]
        if node["step"] == 1 and line:
            _, a, b = line[0].split()
            windows.append((float(a), float(b)))
    assert len(windows) == 4
    overlapping = sum(1 for i, (a1, b1) in enumerate(windows) for (a2, b2) in windows[i + 1:]
                      if a1 < b2 and a2 < b1)
    assert overlapping >= 1, windows
    pools = [e["payload"] for e in events if e["kind"] == "mle_pool"]
    assert pools[-1]["pool"] == ["s0c0", pools[-1]["offered"]]
    # the documented rule: the batch's best by dev metric is the one offered
    step1 = [n for n in results["journal"] if n["step"] == 1 and n["status"] == "ok"]
    assert nodes_by_id(results)[pools[-1]["offered"]]["metric"] == max(n["metric"] for n in step1)


def test_the_reward_model_reads_a_shared_parent_and_a_repeated_program_once(tmp_path, httpserver, env):
    def propose(request, n):  # both candidates of the step make the same edit of the same start
        return mle.swap_model(request, mle.GOOD_MODEL)

    inner = mle.mle_policy(propose=propose, repair=propose)
    assessed: list[str] = []

    def policy(request, role, step):
        if request.command_names == ["assess"]:
            assessed.append(request.last_user)
        return inner(request, role, step)

    results, _, _ = run_solver(tmp_path, httpserver, policy)
    assert [n["parent"] for n in results["journal"] if n["step"] == 1] == ["s0c0", "s0c0"]
    step1 = assessed[-1]
    assert "## Attempt s1c0" in step1 and "## Attempt s1c1" in step1
    assert step1.count("Its parent s0c0:") == 1 and step1.count("```diff") == 1
    assert "Its program is the same as s1c0's." in step1.split("## Attempt s1c1")[1]
    assert all(0 <= n["reward"] <= 1 for n in results["journal"] if n["step"] == 1)


def test_a_plan_metric_no_program_records_is_said_once_and_the_best_node_names_it(tmp_path, httpserver, env):
    plan = PLAN.model_copy(update={"metrics": [MetricSpec(name="macro F1", higher_is_better=True, split="dev")]})
    policy = mle.mle_policy(propose=lambda r, n: mle.swap_model(r, mle.GOOD_MODEL), repair=None)
    results, events, _ = run_solver(tmp_path, httpserver, policy, plan=plan)
    said = [e["payload"]["message"] for e in events if e["kind"] == "warning" and "macro F1" in e["payload"]["message"]]
    assert len(said) == 1 and "s0c0 recorded no dev metric named 'macro F1'" in said[0] and "accuracy" in said[0]
    best = next(e for e in events if e["kind"] == "mle_best")
    assert best["payload"]["metric"] is None and best["payload"]["metric_name"] == "macro F1"
    assert "(no dev macro F1 recorded: ranked by reward)" in describe(best).text


def test_a_plan_that_names_no_metric_is_ranked_by_reward_and_says_so(tmp_path, httpserver, env):
    plan = PLAN.model_copy(update={"metrics": []})
    policy = mle.mle_policy(propose=lambda r, n: mle.swap_model(r, mle.GOOD_MODEL), repair=None)
    results, events, _ = run_solver(tmp_path, httpserver, policy, plan=plan)
    said = [e["payload"]["message"] for e in events if e["kind"] == "warning"]
    assert said == ["the plan names no metric: the experiment search ranks programs by the reward model's "
                    "scores alone"]
    best = next(e for e in events if e["kind"] == "mle_best")
    assert describe(best).text.startswith("reward 0.6 (the plan names no metric: ranked by reward)")
    assert results["best"] and results["metrics"]  # the best program's recorded metrics are still reported


def test_pool_replaces_its_worst_member_only_with_a_better_program():
    from labcoat.journal import Node

    def node(i, metric, reward=0.5):
        return Node(id=f"n{i}", step=0, candidate=0, operation="edit", code="", status="ok", metric=metric,
                    reward=reward)

    pool = Pool(2, Ranker("metric_then_reward", higher_is_better=False))
    assert pool.offer(node(1, 3.0)) == "admitted" and pool.offer(node(2, 2.0)) == "admitted"
    assert pool.offer(node(3, 5.0)).startswith("not admitted")
    assert pool.offer(node(4, 1.0)) == "replaced n1" and pool.ids() == ["n4", "n2"]
    tie = Pool(1, Ranker("metric_then_reward"))
    tie.offer(node(5, 0.9, reward=0.2))
    assert tie.offer(node(6, 0.9, reward=0.8)) == "replaced n5"
    by_reward = Ranker("reward")
    assert by_reward.best([node(7, 0.99, 0.1), node(8, 0.5, 0.9)]).id == "n8"


def test_verdicts_are_matched_to_attempts_however_a_model_names_them():
    def v(attempt: str, score: float) -> Verdict:
        return Verdict(attempt=attempt, score=score, rationale="r", lesson="l")

    ids = ["s2c0", "s2c1", "s2c1r1"]
    found = match_verdicts(ids, [v("Attempt s2c1r1", 0.3), v("s2c0 (edit of s1c0)", 0.8), v("**s2c1**", 0.5)])
    assert {i: found[i].score for i in ids} == {"s2c0": 0.8, "s2c1": 0.5, "s2c1r1": 0.3}
    # ids nobody can match go in the order given to the attempts left, when the counts agree
    found = match_verdicts(ids, [v("s2c0", 0.8), v("first", 0.1), v("second", 0.2)])
    assert {i: found[i].score for i in ids} == {"s2c0": 0.8, "s2c1": 0.1, "s2c1r1": 0.2}
    # otherwise an attempt without its verdict stays unscored (ranked by its metric alone); the first of two
    # verdicts for one attempt counts
    found = match_verdicts(ids, [v("s2c0", 0.8), v("s2c0", 0.9)])
    assert set(found) == {"s2c0"} and found["s2c0"].score == 0.8


def test_the_reward_model_reads_a_recorded_metric_once_and_every_other_line_of_output():
    metrics = [{"name": "wine/svc/accuracy", "value": 0.991228}, {"name": "accuracy", "value": 0.9561},
               {"name": "n", "value": 1}]
    tail = ("loading data\n"
            "wine svc: dev accuracy 0.9912\n"
            "mean: dev accuracy 95.61%\n"
            "ConvergenceWarning: lbfgs failed to converge after 100 iterations\n"
            "epoch 1 loss 0.9561\n"
            "svc C=10: dev 0.97\n")
    assert output_unsaid(tail, metrics) == (
        "loading data\n"
        "ConvergenceWarning: lbfgs failed to converge after 100 iterations\n"
        "epoch 1 loss 0.9561\n"
        "svc C=10: dev 0.97\n"
        "(2 lines restating the recorded metrics left out)")
    assert output_unsaid("accuracy 0.9561\n", metrics) == "(1 line restating the recorded metrics left out)"
    assert output_unsaid(tail, []) == tail.strip("\n")
