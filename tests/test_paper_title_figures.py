"""A paper title written for the paper, BibTeX without local paths, each figure included once."""

from __future__ import annotations

from pathlib import Path

import pytest

from labcoat.report.lines import set_section
from labcoat.report.scaffold import render_scaffold, write_report_dir
from labcoat.review.run_records import check_report
from labcoat.solvers.paper.inputs import TITLE_WORDS, paper_title
from labcoat.tools import bibtex

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("question, title", [
    ("Research question. Does standardising features change the ranking of three classifiers?",
     "Does standardising features change the ranking of three classifiers?"),
    ("Question: Does label smoothing help small CNNs?", "Does label smoothing help small CNNs?"),
    ("RQ1 - Research question: Is dropout needed?", "Is dropout needed?"),
    ("How robust are gradient boosted trees to label noise when the noise is class-conditional, and does early "
     "stopping on a clean dev set recover the lost accuracy across many tabular benchmarks?",
     "How robust are gradient boosted trees to label noise when the noise is class-conditional"),
])
def test_the_title_is_the_question_without_its_label_and_short(question: str, title: str) -> None:
    assert paper_title(question) == title
    assert len(paper_title(question).split()) <= TITLE_WORDS


def test_an_overlong_question_without_clauses_is_cut_at_a_word_that_can_end_a_title() -> None:
    title = paper_title("Does the use of a very large number of augmentation policies in the training of the "
                        "classifier of the images change anything")
    assert len(title.split()) <= TITLE_WORDS and title.split()[-1] not in ("of", "the", "a", "in")


def test_bibtex_of_a_local_library_paper_carries_no_local_path(tmp_path: Path) -> None:
    pdf = tmp_path / "home" / "me" / "papers" / "probe.pdf"
    local = {"id": "lib-probe", "title": "Probing", "authors": ["A. Smith"], "published": "2020",
             "source": "library", "url": pdf.as_uri()}
    entry = bibtex.entry(local)
    assert "file:" not in entry and str(tmp_path) not in entry and "url" not in entry
    for path_like in ("/home/me/papers/probe.pdf", "C:\\papers\\probe.pdf", "papers/probe.pdf"):
        assert "url" not in bibtex.entry({**local, "url": path_like})
    public = bibtex.entry({**local, "url": "https://doi.org/10.1000/xyz"})
    assert "url = {https://doi.org/10.1000/xyz}" in public


def test_two_figures_with_one_file_name_are_each_included_once_under_their_own_label(tmp_path: Path) -> None:
    dev, test = tmp_path / "exec" / "n3", tmp_path / "exec" / "final"
    for folder in (dev, test):
        folder.mkdir(parents=True)
        (folder / "accuracy.png").write_bytes(PNG + folder.name.encode())
    out = tmp_path / "report"
    write_report_dir(out, render_scaffold("t"), "", figures=[dev / "accuracy.png", test / "accuracy.png",
                                                            dev / "accuracy.png"])
    figures = (out / "figures.tex").read_text()
    assert figures.count("\\includegraphics") == 2 and figures.count("\\label{") == 2
    assert "\\label{fig:accuracy}" in figures and "\\label{fig:accuracy-2}" in figures
    assert (out / "figures" / "accuracy-2.png").read_bytes().endswith(b"final")
    assert check_report(out, results=None, data=None, review=None).ok


def test_a_figure_the_writer_includes_again_is_an_error(tmp_path: Path) -> None:
    fig = tmp_path / "accuracy.png"
    fig.write_bytes(PNG)
    again = ("See Figure~\\ref{fig:accuracy}.\n\\begin{figure}\\includegraphics{figures/accuracy.png}"
             "\\caption{Accuracy.}\\label{fig:accuracy}\\end{figure}")
    out = tmp_path / "report"
    write_report_dir(out, set_section(render_scaffold("t"), "results", again), "", figures=[fig])
    report = check_report(out, results=None, data=None, review=None)
    line = (out / "report.tex").read_text().splitlines().index("\\begin{figure}\\includegraphics{figures/accuracy.png}"
                                                             "\\caption{Accuracy.}\\label{fig:accuracy}\\end{figure}") + 1
    kinds = sorted((f.kind, f.file, f.line) for f in report.errors)
    assert kinds == [("duplicate_figure", "report.tex", line), ("duplicate_label", "report.tex", line)]
    assert "refer to it with \\ref" in report.feedback()
