"""All seven phases, none stood in: recorded arXiv feeds, the real sandbox and mle-solver, the
paper-solver with real latexmk, reviewers and refinement, all with scripted agents on loopback."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from labcoat.cli import main
from labcoat.phases import default_workflow
from labcoat.review.personas import PERSONAS
from labcoat.run.runner import create_run, execute
from labcoat.run.services import attach
from labcoat.store import open_store

from tests.support import lab_policies as lab
from tests.support import mle_policies as mle
from tests.support.lab_services import LabScript, lab_config, recorded_arxiv
from tests.support.scripted_provider import TEST_KEY, ScriptedProvider

pytestmark = pytest.mark.slow
DEV_ROW = re.compile(r"\| accuracy \| dev \| ([0-9.]+) \|")
CITABLE = re.compile(r"^- (\S+): ", re.MULTILINE)


def recorded_dev(request) -> str:
    found = DEV_ROW.findall(request.system + "\n" + request.last_user)
    assert found, "the recorded metrics table is not in the prompt"
    return f"{float(found[0]):.4f}"


def interpretation(request, role, step):
    if role == "phd":
        return lab.reply_command("dialogue", text="Quote the recorded dev accuracy only.")
    value = recorded_dev(request)
    return lab.reply_command("interpretation", text=f"Standardised logistic regression reached {value} dev accuracy.",
                             claims=[f"The dev accuracy was {value}."])


def writing(request, role, step):
    text = request.last_user
    if role == "phd":
        keys = CITABLE.findall(request.system.split("Citable papers")[-1]) if "Citable papers" in request.system \
            else []
        cite = f" \\citep{{{keys[0]}}}" if keys else ""
        return lab.reply_command("section", body=f"Scaling matters{cite}. The recorded dev accuracy was "
                                                 f"{recorded_dev(request)} (\\cref{{tab:metrics}}).")
    line = next(int(n) for n, body in re.findall(r"^\s*(\d+)\| (.*)$", text, re.MULTILINE)
                if body.startswith("\\bibliographystyle"))
    return lab.reply_command("edit", start=line, end=line - 1, body="A single data set limits these conclusions.\n")


def refinement(request, role, step):
    if role == "professor":
        return lab.reply_command("summary", question="Does scaling change rankings?", method="Scaled LR.",
                                 findings=[f"Dev accuracy {recorded_dev(request)}."], limitations=["One data set."])
    return lab.reply_command("decide", decision="accept", phase="", reason="The evidence is recorded.")


def review(request):
    return lab.reply_command("review", summary="s", strengths=["recorded"], weaknesses=["one data set"],
                             originality=2, quality=3, clarity=3, significance=2, soundness=3, presentation=3,
                             contribution=2, questions=["more data?"], limitations="stated", ethics="none",
                             overall=5, confidence=3, decision="reject")


def test_the_whole_pipeline_ends_in_a_checked_compiled_report(tmp_path, httpserver, fixtures_dir, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
    monkeypatch.setenv("LABCOAT_CACHE_DIR", str(tmp_path / "cache"))
    recorded_arxiv(fixtures_dir, httpserver)
    lab_script = LabScript({
        "literature_review": lab.literature, "plan_formulation": lab.planning, "data_preparation": lab.data_prep,
        "running_experiments": mle.mle_policy(propose=lambda r, n: mle.swap_model(r, mle.GOOD_MODEL),
                                              repair=lambda r, n: mle.swap_model(r, mle.GOOD_MODEL)),
        "results_interpretation": interpretation, "report_writing": writing, "report_refinement": refinement})

    def policy(request):
        if any(p.brief in request.messages[0]["content"] for p in PERSONAS):
            return review(request)
        return lab_script(request)

    with ScriptedProvider(policy) as sp:
        config = lab_config(sp, httpserver, mle={"use_seeds": False},
                            budget={"lit_review_papers": 2, "mle_steps": 1, "mle_candidates": 1, "paper_steps": 1,
                                    "refinement_rounds": 1,
                                    "phase_steps": {"literature_review": 8, "plan_formulation": 6,
                                                    "data_preparation": 6, "results_interpretation": 6}})
        run_dir = create_run(config, tmp_path / "run")
        ctx = execute(run_dir, default_workflow, attach=attach)
    assert ctx.failure is None, ctx.failure
    with open_store(run_dir, readonly=True) as store:
        assert store.info().state == "finished", store.info().message
        review_papers = store.artefact("literature_review")["data"]["papers"]
        report = store.artefact("report_writing")["data"]
    folder = run_dir / "report"
    text = " ".join(subprocess.run(["pdftotext", str(folder / "report.pdf"), "-"], capture_output=True, text=True,
                                   timeout=60, check=True).stdout.split())
    assert review_papers[0]["title"].split(":")[0] in text and "Experimental Setup" in text
    integrity = json.loads((folder / "integrity.json").read_text())
    assert integrity["ok"], integrity["findings"]
    assert report["cited"] and set(report["cited"]) <= {p["bibtex_key"] for p in review_papers} | \
        {p["bibtex_key"] for p in report["retrieved"]}
    assert (run_dir / "README.md").read_text().count("| accuracy |") == 2
    main(["check", str(run_dir)])
