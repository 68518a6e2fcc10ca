"""Know before you compile: a report that cannot be typeset here is said up front, with the
install command, and no model call is spent asking a model to fix a missing system package.

A machine without a package is made two ways: a kpsewhich first on PATH that
cannot find lmodern.sty (the check before the run sees it), and a scaffold
that loads a package this machine lacks while the check is told all is well
(the real compile fails in the sandbox as it would). The report phases run
on the scripted model after stand-ins for the earlier phases.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from labcoat.report.scaffold import render_scaffold, write_report_dir
from labcoat.report.toolchain import report_toolchain
from labcoat.run.runner import create_run, execute
from labcoat.run.services import attach
from labcoat.solvers.paper.build import environmental_cause
from labcoat.store import open_store
from labcoat.tools.latex import compile_latex

from tests.support.lab_services import lab_config, recorded_arxiv
from tests.support.scripted_provider import TEST_KEY, ScriptedProvider
from tests.support.scripted_run import RecordingProgress
from tests.test_report_language import policy
from tests.test_report_phases import PHASES, factory_for

REAL_KPSEWHICH = shutil.which("kpsewhich")
# kpsewhich as on a machine without the lmodern package: every other file is found as before.
KPSEWHICH_WITHOUT_LMODERN = f"""#!/bin/sh
for f in "$@"; do [ "$f" = lmodern.sty ] || {REAL_KPSEWHICH} "$f"; done
"""
pytestmark = pytest.mark.skipif(REAL_KPSEWHICH is None or shutil.which("latexmk") is None,
                                reason="needs TeX Live (kpsewhich, latexmk)")


def put_first_on_path(monkeypatch, tmp_path: Path, name: str, script: str) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / name).write_text(script)
    (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")


def run_report_phases(tmp_path, httpserver, fixtures_dir, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
    monkeypatch.setenv("LABCOAT_CACHE_DIR", str(tmp_path / "cache"))
    recorded_arxiv(fixtures_dir, httpserver)
    progress = RecordingProgress()
    with ScriptedProvider(policy) as sp:
        config = lab_config(sp, httpserver, phases=PHASES, budget={"paper_steps": 2, "refinement_rounds": 0})
        run_dir = create_run(config, tmp_path / "run")
        ctx = execute(run_dir, factory_for([]), attach=attach, progress=progress)
        assert ctx.failure is None, ctx.failure
        prompts = [r.last_user for r in sp.requests]
    with open_store(run_dir, readonly=True) as store:
        assert store.info().state == "finished", store.info().message
        compiles = [e for e in store.events() if e["kind"] == "paper_compile"]
    return run_dir, progress, prompts, compiles


def test_a_missing_template_package_is_said_before_the_run_and_nothing_is_compiled(
        tmp_path, httpserver, fixtures_dir, monkeypatch):
    put_first_on_path(monkeypatch, tmp_path, "kpsewhich", KPSEWHICH_WITHOUT_LMODERN)
    toolchain = report_toolchain("English")
    assert toolchain.missing == ("lmodern.sty",) and "lmodern" in toolchain.fix.split()

    run_dir, progress, prompts, compiles = run_report_phases(tmp_path, httpserver, fixtures_dir, monkeypatch)
    first = progress.messages[0]
    assert first.startswith("the report cannot be compiled to PDF on this machine: lmodern.sty not found")
    assert "sudo apt-get install latexmk texlive-latex-base" in first and "lmodern" in first
    assert compiles == []                                  # never compiled, so never repaired
    assert not any("lmodern.sty" in p or "needs repair" in p for p in prompts)  # the paper itself says lmodern
    folder = run_dir / "report"
    assert not (folder / "report.pdf").exists()
    markdown = (folder / "report.md").read_text(encoding="utf-8")
    assert markdown.startswith("> This report was not compiled to PDF: TeX cannot typeset this report here: "
                               "lmodern.sty not found (install: sudo apt-get install")
    assert "lmodern.sty not found" in (run_dir / "README.md").read_text(encoding="utf-8")


def test_a_compile_that_fails_for_a_missing_system_package_is_not_sent_to_the_model(
        tmp_path, httpserver, fixtures_dir, monkeypatch):
    import labcoat.report.scaffold as scaffold
    from labcoat.report.toolchain import Toolchain

    templates = tmp_path / "templates"
    shutil.copytree(scaffold.TEMPLATES, templates)
    main = templates / "report.tex.j2"
    main.write_text(main.read_text().replace(r"\usepackage{lmodern}", r"\usepackage{lmodernnotinstalled}"))
    monkeypatch.setattr(scaffold, "TEMPLATES", templates)
    monkeypatch.setattr("labcoat.report.toolchain.report_toolchain", lambda language: Toolchain("pdf", fix="apt"))
    run_dir, progress, prompts, compiles = run_report_phases(tmp_path, httpserver, fixtures_dir, monkeypatch)
    assert len(compiles) == 1 and not compiles[0]["payload"]["ok"]  # the draft's compile, then no more
    assert not any("lmodernnotinstalled.sty" in p or "needs repair" in p for p in prompts)
    assert sum("Edit step" in p for p in prompts) == 2     # the edit steps still ran, judged without TeX
    warned = [m for m in progress.messages if m.startswith("no PDF will be made")]
    assert len(warned) == 1 and "lmodernnotinstalled.sty, which the report template loads, is not installed" in warned[0]
    assert "(install: apt, or run scripts/setup.sh)" in warned[0]
    assert (run_dir / "report" / "report.md").is_file() and not (run_dir / "report" / "report.pdf").exists()


def test_a_package_the_model_added_is_the_models_to_fix(tmp_path: Path) -> None:
    tex = render_scaffold("t").replace(r"\usepackage{booktabs}", "\\usepackage{booktabs}\n\\usepackage{nosuchpackagexyz}")
    write_report_dir(tmp_path, tex, "")
    result = compile_latex(tmp_path, timeout=120)
    assert not result.ok and result.errors[0].kind == "missing_file"
    assert environmental_cause(result, "English") == ""    # goes back to the model with its line
    assert "nosuchpackagexyz.sty" in result.feedback()
