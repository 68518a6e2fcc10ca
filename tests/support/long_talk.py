"""A 30-step plan formulation after a five-paper literature review: the scenario of the flat-context test
and bench/context_growth.py. Each turn says ~600 characters, as real agents write."""

from __future__ import annotations

from labcoat.artefacts import LitReview, PaperRecord

from tests.support import lab_policies as lab
from tests.support.lab_policies import reply_command

STEPS = 30
TURN = ("We should compare the three classifiers with and without standardisation on each data set, "
        "control the random seed, report dev accuracy with its spread over folds, and keep the test split "
        "untouched until the end; the literature suggests margins matter most for the SVM. ") * 2


def policy(request, role, step):
    """The postdoc and PhD talk; the plan comes only at the step cap."""
    if request.command_names == ["plan"] or (role == "postdoc" and step >= STEPS):
        return reply_command("plan", **lab.PLAN)
    return reply_command("dialogue", text=f"[{role} {step}] {TURN}")


def literature(ctx) -> LitReview:
    """A literature review of five papers, as the plan phase would receive it (its prompts carry it)."""
    summary = ("Shows that feature scaling changes the margin-based classifiers' accuracy on small tabular data, "
               "while tree ensembles are invariant to monotone transformations; evaluates on UCI data sets. ") * 2
    return LitReview(target=5, papers=[
        PaperRecord(id=f"2101.0000{i}v1", title=f"Feature scaling study {i}", summary=summary, year=2021,
                    bibtex_key=f"study{i}", bibtex=f"@article{{study{i}, title={{Study {i}}}}}") for i in range(5)])
