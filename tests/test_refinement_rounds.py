"""Refinement rounds count only the PhD's revisits; a co-pilot revision of the refinement is counted apart.

The report phases run for real (stand-in earlier phases, scripted model on
loopback, real run store); the co-pilot asks to revise the refinement once.
With `budget.refinement_rounds: 1` the PhD must still get its one round after
that revision, and a run killed (SIGKILL) half way and resumed must count the same.
"""

from __future__ import annotations

import threading

from rich.text import Text

from labcoat.workflow.gates import GateAnswer, ScriptedGate
from labcoat.run.runner import create_run, execute
from labcoat.run.services import attach
from labcoat.store import open_store
from labcoat.store.transcript import render_event

from tests.support.gate_app import NOTE, LoggingGate, kill_when
from tests.support.lab_services import lab_config, recorded_arxiv
from tests.support.scripted_provider import ScriptedProvider
from tests.test_report_phases import PHASES, ReportScript, env, factory_for  # noqa: F401  (env is a fixture)

REFINEMENT = "report_refinement"
# Accept first; after the co-pilot's revision, send the paper back to writing (and keep asking to).
DECISIONS = [("accept", ""), ("revisit", "report_writing")]
REVIEWED = "novelty: only one data set"  # in the writers' prompts once the reviews came back as notes

workflow = factory_for([])  # for the child process: `--workflow tests.test_refinement_rounds:workflow`


def config(sp, httpserver):
    return lab_config(sp, httpserver, phases=PHASES, report={"compile_latex": False}, copilot={"enabled": True},
                      budget={"paper_steps": 0, "refinement_rounds": 1})


def counts(run_dir) -> dict:
    """What the transcript and artefact say about rounds and co-pilot revisions."""
    with open_store(run_dir, readonly=True) as store:
        evs = store.events()
        final = store.artefact(REFINEMENT)["data"]
        diverged = store.info().message
    pick = lambda kind: [e for e in evs if e["kind"] == kind]  # noqa: E731
    return {
        "decisions": [(e["payload"]["decision"], e["payload"]["round"], e["payload"]["rounds_left"],
                       e["payload"]["copilot_revisions"]) for e in pick("refinement_decision")],
        "revisits": [(e["payload"]["to"], e["payload"]["round"]) for e in pick("revisit")],
        "revisions": [(e["phase"], e["payload"]["revision"], e["payload"]["next_attempt"],
                       e["payload"]["refinement_rounds_used"]) for e in pick("copilot_revision")],
        "starts": [(e["phase"], e["payload"]["attempt"]) for e in pick("phase_start")
                   if e["phase"] in ("report_writing", REFINEMENT)],
        "final": (final["decision"], final["round"], final["copilot_revisions"], final["reason"]),
        "message": diverged,
        "rendered": [Text.from_markup(render_event(e)).plain for e in pick("copilot_revision") + pick("revisit")],
    }


# (decision, PhD revisits so far, rounds left, co-pilot revisions of the refinement so far)
EXPECTED_DECISIONS = [("accept", 0, 1, 0),    # attempt 0; then the co-pilot asks for a revision
                      ("revisit", 0, 1, 1),   # attempt 1: the revision left the PhD's round untouched
                      ("accept", 1, 0, 1)]    # attempt 2: the one round is used, accepted at the bound
EXPECTED_STARTS = [("report_writing", 0), (REFINEMENT, 0), (REFINEMENT, 1), ("report_writing", 1), (REFINEMENT, 2)]


def test_a_copilot_revision_of_the_refinement_leaves_the_phds_rounds(tmp_path, httpserver, fixtures_dir, env):
    recorded_arxiv(fixtures_dir, httpserver)
    script = ReportScript(decisions=DECISIONS)
    gate = ScriptedGate(lambda phase, attempt, summary: GateAnswer("revise", "Say how the reviews were run.")
                        if (phase, attempt) == (REFINEMENT, 0) else GateAnswer("approve"))
    with ScriptedProvider(script) as sp:
        run_dir = create_run(config(sp, httpserver), tmp_path / "run")
        execute(run_dir, workflow, attach=attach, gate=gate)
    seen = counts(run_dir)
    assert "finished" in seen["message"], seen["message"]
    assert seen["decisions"] == EXPECTED_DECISIONS
    # the PhD was told after the revision that it may still send the run back once
    assert len(script.decide_prompts) == 2
    assert all("You may send the run back 1 more time." in p for p in script.decide_prompts)
    assert seen["revisits"] == [("report_writing", 1)]
    assert seen["revisions"] == [(REFINEMENT, 1, 1, 0)]
    assert "co-pilot revision 1 of report_refinement" in seen["rendered"][0]
    assert "uses no refinement round" in seen["rendered"][0]
    assert "revisit → report_writing (refinement round 1 of 1)" in seen["rendered"][1]
    assert seen["starts"] == EXPECTED_STARTS
    assert seen["final"][:3] == ("accept", 1, 1) and "round bound" in seen["final"][3]
    assert (REFINEMENT, 0) in gate.asked and (REFINEMENT, 2) in gate.asked


def test_killed_after_the_revisit_and_resumed_counts_the_same(tmp_path, httpserver, fixtures_dir, env):
    """SIGKILL while report writing reruns for the PhD's revisit; the resumed run replays the co-pilot's
    revision and the PhD's decision from the store and ends with the same counts, diverging nowhere."""
    recorded_arxiv(fixtures_dir, httpserver)
    release = threading.Event()
    script = ReportScript(decisions=DECISIONS)

    def held(request):
        if REVIEWED in request.system and not release.is_set():
            release.wait(30)  # hold the rerun's first writing call until the child is killed
        return script(request)

    asked_log = tmp_path / "asked.log"
    with ScriptedProvider(held, hang_cap_s=40) as sp:
        run_dir = create_run(config(sp, httpserver), tmp_path / "run")
        kill_when(run_dir, asked_log, lambda: any(REVIEWED in r.system for r in sp.requests), release,
                  what="report writing never reran", timeout=90,
                  args=("--revise", REFINEMENT, "--workflow", "tests.test_refinement_rounds:workflow"))
        with open_store(run_dir, readonly=True) as store:
            before = [(e["kind"], e["payload"]) for e in store.events()
                      if e["kind"] in ("copilot_revision", "revisit", "refinement_decision")]
        assert [k for k, _ in before] == ["refinement_decision", "copilot_revision", "refinement_decision",
                                          "revisit"]
        decides = len(script.decide_prompts)

        execute(run_dir, workflow, attach=attach, gate=LoggingGate(asked_log, REFINEMENT), resumed=True)
    seen = counts(run_dir)
    assert "finished" in seen["message"] and "diverged" not in seen["message"], seen["message"]
    assert len(script.decide_prompts) == decides  # both decisions were replayed, not asked again
    assert seen["decisions"] == EXPECTED_DECISIONS
    assert seen["revisits"] == [("report_writing", 1)]
    assert seen["revisions"] == [(REFINEMENT, 1, 1, 0)]
    assert seen["starts"] == EXPECTED_STARTS
    assert seen["final"][:3] == ("accept", 1, 1)
    asked = asked_log.read_text().split("\n")
    assert asked.count(f"{REFINEMENT} 0") == 1  # the co-pilot's revision was recorded: never asked again
    assert asked.count(f"{REFINEMENT} 2") == 1
    with open_store(run_dir, readonly=True) as store:
        notes = [e["payload"]["notes"] for e in store.events(kinds=["phase_start"]) if e["phase"] == REFINEMENT]
    assert NOTE not in notes[0] and NOTE in notes[1]  # the revised attempt had the co-pilot's note
