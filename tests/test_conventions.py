"""Conventions are not claims: one vocabulary for the interpretation guard and the paper check,
and a guard that refuses the same numbers at most once."""

from __future__ import annotations

import pytest

from labcoat.artefacts import DataCode, MetricValue, Plan, Results
from labcoat.phases import available_phases
from labcoat.review.conventions import convention_spans, mark_unverified, setting_records
from labcoat.review.integrity import check_integrity
from labcoat.review.number_sources import candidates, ratios, unverified_numbers
from labcoat.review.run_records import code_texts, recorded_numbers
from labcoat.run.runner import create_run, execute
from labcoat.run.services import attach
from labcoat.store import open_store
from labcoat.workflow import Phase, Workflow

from tests.support.lab_policies import reply_command
from tests.support.lab_services import LabScript, lab_config
from tests.support.scripted_provider import TEST_KEY, ScriptedProvider

RESULTS = Results(
    metrics=[MetricValue(name="accuracy", value=0.9649122807, split="dev", source="s1c0"),
             MetricValue(name="accuracy_unscaled", value=0.9122807, split="dev", source="s1c1"),
             MetricValue(name="fit_seconds", value=0.41, split="dev", higher_is_better=False, source="s1c0"),
             MetricValue(name="fit_seconds_rbf", value=1.31, split="dev", higher_is_better=False, source="s1c1")],
    best_code="clf = LogisticRegression(C=0.5, max_iter=200)\nB = 1000  # bootstrap resamples\n",
    journal=[{"id": "s1c0", "status": "ok", "metrics": [{"name": "accuracy", "value": 0.9649122807}],
              "stdout": "McNemar b=12 c=4 p=0.0768\nbootstrap diff 0.0526 [0.0175, 0.0877]\n"}])
DATA = DataCode(code="train_test_split(X, y, test_size=0.2, random_state=0)", sizes={"train": 341, "dev": 114, "test": 114})
PLAN = Plan(question="Does scaling help?", protocol="80/20 split of train+dev vs test; 5-fold CV on train; alpha 0.05",
            method="Logistic regression with C in {0.1, 0.5, 1.0}; report a paired bootstrap 95% CI over 1000 resamples.")

# What a strong model writes: a long preamble, conventions, hedges, counts and a ratio.
STRONG = """Let me think through what the recorded numbers say before writing the interpretation. The table lists
dev accuracy for the scaled and the unscaled pipeline, and the best program printed a McNemar test and a paired
bootstrap. With an 80/20 split and n = 569 examples, the dev set is small, so I will hedge.

Standardised logistic regression reached 96.49% dev accuracy against 91.23% without scaling, a gain of 5.26 points
(paired bootstrap 95% CI [1.75, 8.77] pp over 1000 resamples; McNemar b=12, c=4, p = 0.0768, not significant at
p < 0.05 or at the α = 0.05 level). Fitting took 0.41 s, 3.2× faster than the RBF SVM (1.31 s). With C = 0.5
the result was stable; at the 99% level nothing changes."""


def _pool():
    records = recorded_numbers(RESULTS, DATA, setting_records(plan=PLAN, topic="", notes={}))
    return candidates(records, code_texts(RESULTS, DATA)), ratios(records)


def test_a_strong_models_interpretation_states_no_unverified_number() -> None:
    pool, ratio_pool = _pool()
    bad, matched = unverified_numbers(STRONG, pool, ratio_pool)
    assert bad == []
    sources = {m["number"]: m["source"] for m in matched}
    assert sources["95%"] == "convention: confidence level" and sources["99%"] == "convention: confidence level"
    assert sources["0.05"].startswith("convention: significance")
    assert sources["3.2×"].startswith("ratio of") and sources["5.26"] == "node s1c0 output"
    assert sources["96.49%"].startswith("s1c0") and sources["0.0768"] == "node s1c0 output"


@pytest.mark.parametrize("text, bad", [
    ("Accuracy reached 0.123 on dev.", ["0.123"]),
    ("The gain was ±0.7 pp across seeds.", ["0.7"]),
    ("p = 0.0213 shows the gain is real.", ["0.0213"]),            # a p-value is a result, not a threshold
    ("We saw a 93% gain in accuracy.", ["93%"]),                 # a percentage is not a confidence level by itself
    ("A 30/20 split.", []),                                      # integers: left to the paper check
    ("A 0.3/0.7 split.", []),
])
def test_results_that_look_like_conventions_are_still_checked(text: str, bad: list[str]) -> None:
    pool, ratio_pool = _pool()
    assert unverified_numbers(text, pool, ratio_pool)[0] == bad


def test_split_ratios_sum_to_the_whole() -> None:
    assert [what for *_, what in convention_spans("an 80/20 split and a 70:15:15 train/dev/test partition")] == \
        ["split ratio", "split ratio"]
    assert convention_spans("a 3/4 split") == []


def test_the_paper_check_uses_the_same_vocabulary(tmp_path) -> None:
    body = ("\\begin{document}\nWith an 80/20 split of the n = 569 examples, scaling reached 96.49\\% "
            "(paired bootstrap 95\\% CI [1.75, 8.77]; McNemar $b=12$, $c=4$; significant at $p < 0.05$), "
            "3.2$\\times$ faster to fit; C = 0.5 over 1000 resamples.\n")
    records = recorded_numbers(RESULTS, DATA, setting_records(plan=PLAN))
    report = check_integrity(body, "", recorded_numbers=records, retrieved_keys=set(), figure_dir=tmp_path,
                             code_texts=code_texts(RESULTS, DATA))
    assert report.findings == [], report.feedback()
    report = check_integrity(body.replace("96.49", "97.49"), "", recorded_numbers=records, retrieved_keys=set(),
                             figure_dir=tmp_path, code_texts=code_texts(RESULTS, DATA))
    assert [(f.kind, f.text) for f in report.errors] == [("unsupported_number", "97.49\\%")]


def test_mark_unverified_marks_each_place() -> None:
    assert mark_unverified("0.123 and 0.5 and 0.123%", ["0.123"]) == "0.123 [unverified] and 0.5 and 0.123%"


# -- the guard in a real run of the phase -------------------------------------------------------------------

def _workflow(config):
    phases = available_phases()
    return Workflow([Phase("plan_formulation", lambda ctx: PLAN), Phase("data_preparation", lambda ctx: DATA),
                     Phase("running_experiments", lambda ctx: RESULTS), phases["results_interpretation"]])


def _run(tmp_path, httpserver, monkeypatch, policy):
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
    monkeypatch.setenv("LABCOAT_CACHE_DIR", str(tmp_path / "cache"))
    script = LabScript({"results_interpretation": policy})
    with ScriptedProvider(script) as sp:
        config = lab_config(sp, httpserver, phases=["plan_formulation", "data_preparation", "running_experiments",
                                                    "results_interpretation"],
                            budget={"phase_steps": {"results_interpretation": 6}})
        run_dir = create_run(config, tmp_path / "run")
        execute(run_dir, workflow_factory=_workflow, attach=attach)
    with open_store(run_dir, readonly=True) as store:
        artefact = store.artefact("results_interpretation")["data"]
        feedback = [e["payload"] for e in store.events() if e["kind"] == "lab_feedback"]
        warnings = [e["payload"] for e in store.events() if e["kind"] == "warning"]
    return artefact, [c for c in script.calls if c[0] == "results_interpretation"], feedback, warnings


def test_an_interpretation_stating_a_95_percent_interval_is_accepted_at_once(tmp_path, httpserver, monkeypatch):
    def policy(request, role, step):
        return reply_command("interpretation", text=STRONG, claims=["Scaling helps: 96.49% vs 91.23% (95% CI)."])

    artefact, calls, feedback, _ = _run(tmp_path, httpserver, monkeypatch, policy)
    assert len(calls) == 1 and artefact["unverified"] == [] and artefact["text"] == STRONG
    assert not [f for f in feedback if f.get("refused")]
    assert 96.49 in artefact["numbers_used"]


def test_a_model_repeating_a_refused_number_costs_two_calls_and_leaves_a_true_warning(tmp_path, httpserver,
                                                                                       monkeypatch):
    def policy(request, role, step):
        if role == "phd":
            return reply_command("dialogue", text="Quote only recorded numbers.")
        return reply_command("interpretation", text="Scaling gained 5.26 points, ±0.7 pp over seeds.",
                             claims=["The gain is ±0.7 pp stable."])

    artefact, calls, feedback, warnings = _run(tmp_path, httpserver, monkeypatch, policy)
    assert len(calls) == 3  # the submission, the PhD's turn, the resubmission: two calls for the refusal
    assert [f["refused"] for f in feedback if f.get("refused")] == ["unrecorded_numbers"]
    assert artefact["unverified"] == ["0.7"]
    assert artefact["text"] == "Scaling gained 5.26 points, ±0.7 [unverified] pp over seeds."
    assert artefact["claims"] == ["The gain is ±0.7 [unverified] pp stable."]
    said = " ".join(w.get("message", str(w)) for w in warnings)
    assert "0.7" in said and "refused once and submitted them again" in said and "marked [unverified]" in said
    assert "kept out" not in said and artefact["warnings"] and artefact["warnings"][0] in said
