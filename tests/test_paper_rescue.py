"""A paper whose drafted LaTeX never compiles is rescued as plain text, and then compiles."""

from __future__ import annotations

import subprocess

from labcoat.artefacts import MetricValue
from labcoat.report.scaffold import render_scaffold, write_report_dir
from labcoat.solvers.paper.rescue import plain, rescue
from labcoat.tools.latex import compile_latex

BIB = "@article{smith2021scaling,\n  title = {Scaling Features},\n  author = {Smith, Ada},\n  year = {2021}\n}\n"


def test_plain_escapes_specials_and_keeps_citable_citations_and_inputs():
    body = "50% of rows & cost_ratio ~ 2^3 in {braces} \\badmacro \\citep{smith2021scaling,ghost}\n\\input{figures}"
    out = plain(body, {"smith2021scaling"})
    assert r"50\% of rows \& cost\_ratio" in out and r"\{braces\}" in out and r"\textbackslash{}badmacro" in out
    assert r"\citep{smith2021scaling}" in out and "ghost" not in out
    assert out.endswith("\n\\input{figures}")


def test_rescued_paper_compiles_where_the_draft_does_not(tmp_path):
    broken = {"introduction": "We keep 50% of rows & use x_1 \\undefinedthing{ \\citep{smith2021scaling}.",
              "results": "The table shows it.\n\\input{metrics_table}", "abstract": "Scaling & ranking: 100%."}
    tex = render_scaffold("Scaling and rankings", sections=broken)
    folder = write_report_dir(tmp_path / "draft", tex, BIB, metrics=[MetricValue(name="accuracy", value=0.9649)])
    assert not compile_latex(folder.parent).ok
    fixed = rescue(tex, {"smith2021scaling"})
    folder = write_report_dir(tmp_path / "rescued", fixed, BIB, metrics=[MetricValue(name="accuracy", value=0.9649)])
    result = compile_latex(folder.parent)
    assert result.ok, result.feedback()
    text = subprocess.run(["pdftotext", str(result.pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "We keep 50% of rows & use" in text and "Draft the" not in text and "0.9649" in text and "Ada Smith" in text  # the kept citation reaches the bibliography


def test_a_version_the_reviewer_cannot_score_ranks_as_unscored(tmp_path, monkeypatch):
    """Scores only rank versions: a reviewer that never sends a valid form must not pause the report."""
    from labcoat.solvers.paper.build import PaperBuild

    from tests.support.lab_policies import reply_command
    from tests.support.scripted_provider import ScriptedProvider, scripted_config, scripted_env
    from tests.support.scripted_run import open_context

    def bad_reviewer(request):
        return reply_command("review", summary="s", strengths=[], weaknesses=[], originality=9, quality=9,
                             clarity=9, significance=9, soundness=9, presentation=9, contribution=9, questions=[],
                             limitations="", ethics="", overall=99, confidence=9, decision="accept")

    with ScriptedProvider(bad_reviewer) as sp:
        config = scripted_config(sp, models={"reply_retries": 1})
        with open_context(tmp_path / "run", config, env=scripted_env(sp), phase="report_writing") as ctx:
            build = PaperBuild(ctx, tmp_path / "run" / "report", results=None, data=None, review=None)
            score, weaknesses = build.score(ctx.key("paper", 0, "score"), render_scaffold("t"))
            assert score is None and weaknesses == []
            assert any("could not score" in w for w in ctx.warnings)
