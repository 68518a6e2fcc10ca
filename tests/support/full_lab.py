"""A whole lab scripted, phase by phase, behaving well (tests and benchmarks only).

Used to run a complete research project end to end — the quickstart, lab
groups — on the scripted provider: every phase's real code path runs, with
answers a competent model would give.
"""

from __future__ import annotations

import re
from typing import Any

from tests.support import lab_policies as lab
from tests.support.lab_policies import reply_command
from tests.support.lab_services import LabScript, retrieved_ids
from tests.support.mle_policies import assess
from tests.support.scripted_provider import ScriptedRequest

THREE_SETS = lab.DATA_CODE.replace('(("breast_cancer", load_breast_cancer), ("wine", load_wine))',
                                   '(("breast_cancer", load_breast_cancer), ("wine", load_wine), ("digits", load_digits))'
                                   ).replace("load_breast_cancer, load_wine", "load_breast_cancer, load_digits, load_wine")
PLAN = dict(lab.PLAN, datasets=[{"name": n, "source": "scikit-learn", "notes": "bundled"}
                                for n in ("breast_cancer", "wine", "digits")])
KEY_LINE = re.compile(r"^- ([^\s:]+): ", re.MULTILINE)
SECTION = re.compile(r"Draft the (.+?) section")
NUMBERED = re.compile(r"^\s*(\d+)\| (.*)$", re.MULTILINE)


def literature(request: ScriptedRequest, role: str, step: int, *, prefer: str = "") -> Any:
    ids = retrieved_ids(request)
    added = re.findall(r"Added (\S+) \(", "\n".join(m["content"] for m in request.messages))
    if prefer and prefer not in " ".join(ids) and step == 1:
        return reply_command("search", query="standardisation classifier ranking", source="all")
    if not ids:
        return reply_command("search", query="feature scaling classifier comparison", source="all")
    waiting = [i for i in ids if i not in added]
    choice = next((i for i in waiting if prefer and i.startswith(prefer)), waiting[0] if waiting else ids[0])
    return reply_command("add_paper", paper_id=choice, summary="Relevant evidence on scaling and model choice.")


def planning(request: ScriptedRequest, role: str, step: int) -> Any:
    if "plan" in request.command_names:
        return reply_command("plan", **PLAN)
    return reply_command("dialogue", text="Three bundled data sets, three classifiers, with and without scaling.")


def data_prep(request: ScriptedRequest, role: str, step: int) -> Any:
    if role == "ml_engineer":
        return reply_command("dialogue", text="Looks right.")
    return reply_command("submit_code", data_source="scikit-learn bundled data sets", data_version="1.x",
                         subsampling=[], body=THREE_SETS)


def experiments(request: ScriptedRequest, role: str, step: int) -> Any:
    names = request.command_names
    if names == ["assess"]:
        return assess(request, 0.7, "Dev-only selection, measured metrics.",
                      "Scaling matters for the SVM; keep the dev protocol.")
    if "No program exists yet" in request.last_user:
        from labcoat.solvers.mle.seeds import load_seeds

        return reply_command("replace", body=next(s for s in load_seeds() if s.kind == "classification").code)
    for n, line in NUMBERED.findall(request.last_user):
        if '"svc":' in line:
            c = "10.0" if "This program failed" not in request.last_user else "3.0"
            return reply_command("edit", start=int(n), end=int(n),
                                 body=f'        "svc": make_pipeline(StandardScaler(), SVC(C={c})),')
    raise AssertionError("the experiment program shown has no svc line")


def interpretation(request: ScriptedRequest, role: str, step: int) -> Any:
    if role == "phd":
        return reply_command("dialogue", text="The table supports the scaling hypothesis for the SVM.")
    return reply_command("interpretation", text="Standardisation mattered for the margin-based models, "
                         "not for the random forest.", claims=["Scaling changes the SVM's rank."])


def writing(request: ScriptedRequest, role: str, step: int) -> Any:
    text = request.last_user
    heading = SECTION.search(text)
    if heading:
        listing = request.system.split("Citable papers", 1)
        keys = KEY_LINE.findall(listing[1].split("\n# ", 1)[0]) if len(listing) > 1 else []
        cite = f" \\citep{{{keys[0]}}}" if keys and heading.group(1) in ("Introduction", "Related Work") else ""
        return reply_command("section", body=f"This section covers the {heading.group(1).lower()} of our "
                             f"study of feature standardisation{cite}.")
    lines = {int(n): line for n, line in NUMBERED.findall(text)}
    target = next((n for n, line in lines.items() if "covers the discussion" in line), None)
    if target is None:
        return reply_command("replace", body=re.search(r"```latex\n(.*)\n```", text, re.S).group(1))
    return reply_command("edit", start=target, end=target,
                         body="This section discusses what our study of feature standardisation shows.")


def refinement(request: ScriptedRequest, role: str, step: int) -> Any:
    if role == "professor":
        return reply_command("summary", question="Does standardisation change classifier rankings?",
                             method="Three classifiers with and without scaling on three bundled data sets.",
                             findings=["See the recorded metrics table."], limitations=["Automated reviews."])
    return reply_command("decide", decision="accept", phase="", reason="The reviews raise nothing blocking.")


def review(request: ScriptedRequest) -> Any:
    return reply_command("review", summary="Compares classifiers with and without scaling.",
                         strengths=["recorded numbers"], weaknesses=["small data sets"], originality=2,
                         quality=3, clarity=3, significance=2, soundness=3, presentation=3, contribution=2,
                         questions=["why these data sets?"], limitations="stated", ethics="none", overall=5,
                         confidence=3, decision="reject")


def look_at_figure(request: ScriptedRequest) -> Any:
    """A vision model's verdict: it needs the image to say anything."""
    if not request.images:
        raise AssertionError("a figure check without an image")
    return reply_command("figure_check", problems=[])


class FullLab:
    """The provider policy of a whole well-behaved lab."""

    def __init__(self, prefer_paper: str = ""):
        self.script = LabScript({
            "literature_review": lambda r, role, s: literature(r, role, s, prefer=prefer_paper),
            "plan_formulation": planning, "data_preparation": data_prep, "running_experiments": experiments,
            "results_interpretation": interpretation, "report_writing": writing, "report_refinement": refinement,
        })

    def __call__(self, request: ScriptedRequest) -> Any:
        if request.command_names == ["review"]:
            return review(request)
        if request.command_names == ["figure_check"]:
            return look_at_figure(request)
        return self.script(request)
