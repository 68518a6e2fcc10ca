"""Paper-solver parts without a run: citable papers, bounded section context, ranking, the reviews notice."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from labcoat.artefacts import Interpretation, LitReview, MetricValue, PaperRecord, Plan, Results
from labcoat.config.loading import config_from_mapping
from labcoat.report.lines import document_problems
from labcoat.report.scaffold import render_scaffold
from labcoat.review.integrity import IntegrityReport, Finding
from labcoat.solvers.paper.build import Version
from labcoat.solvers.paper.draft import DRAFT_ORDER, Drafter
from labcoat.solvers.paper.inputs import PaperInputs
from labcoat.review.run_records import citable_review
from labcoat.solvers.paper.library import Library
from labcoat.solvers.paper.summary import with_notice
from labcoat.tools import bibtex
from labcoat.tools.research import ResearchTools

ROOT = Path(__file__).resolve().parents[1]


def record(i: int, summary: str = "A study.") -> PaperRecord:
    meta = {"id": f"2301.{10000 + i}v1", "title": f"Scaling study {i}", "authors": ["Ada Smith"], "published": "2021-01-01"}
    return PaperRecord(id=meta["id"], title=meta["title"], authors=meta["authors"], year=2021, summary=summary,
                       bibtex_key=bibtex.cite_key(meta) + str(i), bibtex=bibtex.entry(meta, key=bibtex.cite_key(meta) + str(i)))


def test_retrieved_papers_become_citable_with_unique_keys_from_their_metadata(tmp_path):
    tools = ResearchTools(config_from_mapping({"topic": "t"}, source="test", env={}), cache_dir=tmp_path)
    review = LitReview(papers=[PaperRecord(id="2101.00001v1", title="Scaling Features", authors=["Ada Smith"],
                                           year=2021, summary="s", bibtex_key="smith2021scaling",
                                           bibtex=bibtex.entry({"id": "2101.00001v1", "title": "Scaling Features",
                                                                "authors": ["Ada Smith"], "published": "2021"}))])
    library = Library(review)
    same_key = {"id": "2202.00002v1", "title": "Scaling laws", "authors": ["Bo Smith"], "published": "2021-05-01",
                "abstract": "We scale."}
    added = library.add_retrieved(tools, same_key)
    assert added is not None and added.bibtex_key == "smith2021scaling-b"
    assert added.bibtex.startswith("@misc{smith2021scaling-b,") and "Scaling laws" in added.bibtex
    assert library.add_retrieved(tools, same_key) is None            # the same paper twice: nothing new
    assert library.add_retrieved(tools, {**review.papers[0].model_dump(), "published": "2021"}) is None
    assert library.keys() == {"smith2021scaling", "smith2021scaling-b"}
    assert "@misc{smith2021scaling," in library.bib() and "@misc{smith2021scaling-b," in library.bib()
    merged = citable_review(review, library.added)
    assert [p.bibtex_key for p in merged.papers] == ["smith2021scaling", "smith2021scaling-b"]
    assert len(review.papers) == 1  # the artefact itself is not changed


def test_section_context_is_bounded_however_large_the_run():
    def inputs(n_papers: int, chars: int) -> Drafter:
        data = PaperInputs(
            topic="t", review=LitReview(papers=[record(i, "word " * chars) for i in range(n_papers)]),
            plan=Plan(question="Q?", method="m " * chars), data=None,
            results=Results(best_code="x = 1\n" * chars, metrics=[MetricValue(name="acc", value=0.9)]),
            interpretation=Interpretation(text="t " * chars))
        return Drafter(None, data, Library(data.review), None, None)  # context_for needs neither model nor prompts

    small, large = inputs(3, 50), inputs(200, 5000)
    for key in DRAFT_ORDER:
        assert len(large.context_for(key)) < 9000, key
    # what every section shares, the citable papers, sits in the writers' system prompt: bounded too
    listing = large.library.listing(300, 15)
    assert len(listing) < 3 * len(small.library.listing(300, 15)) + 5000
    assert "… 185 more" in listing   # the rest named by key only
    assert "x = 1" in large.context_for("methods") and "x = 1" not in large.context_for("related_work")


def test_versions_rank_by_compiling_then_integrity_then_score():
    def version(compiled: bool, errors: int, score: float | None) -> Version:
        report = IntegrityReport(findings=[Finding("unsupported_number", "error", "m", "f")] * errors)
        return Version("tex", compiled=compiled, integrity=report, score=score)

    ranked = sorted([version(True, 0, 3.0), version(False, 0, None), version(True, 1, 9.0), version(True, 0, 6.0)],
                    key=Version.rank, reverse=True)
    assert [(v.compiled, v.integrity_errors, v.score) for v in ranked] == [
        (True, 0, 6.0), (True, 0, 3.0), (True, 1, 9.0), (False, 0, None)]


def test_the_reviews_notice_goes_before_the_bibliography_and_keeps_the_paper_well_formed():
    tex = render_scaffold("T", sections={"discussion": "Done."})
    noted = with_notice(tex, "\\paragraph{About the reviews.} automated, 6.1/10 against 3.8/10.")
    assert noted.index("About the reviews") < noted.index("\\bibliographystyle") and not document_problems(noted)


def test_bench_prints_the_token_ratio_last():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "paper_tokens.py"), "--steps", "1"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    last = out.stdout.strip().splitlines()[-1]
    assert last.startswith("ratio: ") and 0 < float(last.split()[1]) < 0.6, out.stdout


def test_a_version_must_keep_the_generated_table_figures_and_bibliography():
    from types import SimpleNamespace

    from labcoat.solvers.paper.build import PaperBuild

    config = config_from_mapping({"topic": "t", "report": {"compile_latex": False}}, source="test", env={})
    build = PaperBuild(SimpleNamespace(config=config), Path("."), results=None, data=None, review=None)
    tex = render_scaffold("T")
    assert build.structure(tex) == "" and "switched off" in build.skip_reason
    refused = build.structure(tex.replace("\\input{metrics_table}\n", ""))
    assert "must keep the line \\input{metrics_table}" in refused


def test_a_drafted_body_loses_the_heading_or_abstract_environment_the_paper_has():
    from labcoat.solvers.paper.draft import clean_body

    assert clean_body("introduction", "\\section{Introduction}\\label{sec:introduction}\nWe ask.\n\\subsection{Aim}\nx") \
        == "We ask.\n\\subsection{Aim}\nx"
    assert clean_body("abstract", "\\begin{abstract}\nWe measure.\n\\end{abstract}") == "We measure."
    assert clean_body("results", "  \n") == ""
