"""Attributed numbers are checked against the text of the cited paper the run read; citable means read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labcoat.artefacts import LitReview, PaperRead, PaperRecord
from labcoat.report.lines import set_section
from labcoat.report.scaffold import render_scaffold, write_report_dir
from labcoat.review.run_records import check_report
from labcoat.tools import fulltext, latexsrc

BIB = "@misc{duvenaud2015convolutional,\n  title={Convolutional Networks on Graphs},\n  year={2015}\n}\n"
KEY = "duvenaud2015convolutional"


@pytest.fixture(scope="module")
def document(fixtures_dir: Path) -> dict:
    tex = (fixtures_dir / "latex" / "neural_fingerprints_1509.09292" / "paper_for_arxiv.tex").read_bytes()
    return {"paper_id": "1509.09292", **latexsrc.to_document({"paper_for_arxiv.tex": tex})}


def _record(document: dict, *, sections: tuple[str, ...] = (), abstract: bool = True) -> PaperRecord:
    """The record the literature review makes: the abstract shown, then each section read with full_text."""
    text = next(s["text"] for s in document["sections"] if s["name"] == "Abstract")
    reads = [PaperRead(part="abstract", how="shown in search results; added with the PhD's summary",
                       text=text if abstract else "")]
    for name in sections:
        shown = fulltext.select(document, name, max_chars=6000)
        reads.append(PaperRead(part=shown["section"], how="read with full_text in the literature review",
                               text=shown["text"]))
    return PaperRecord(id="1509.09292", title=document["title"], summary="Neural graph fingerprints.",
                       bibtex_key=KEY, bibtex=BIB, reads=reads)


def _check(tmp_path: Path, record: PaperRecord, sentence: str):
    out = tmp_path / "report"
    write_report_dir(out, set_section(render_scaffold("t"), "related_work", sentence), BIB)
    report = check_report(out, results=None, data=None, review=LitReview(papers=[record]))
    return report, [(f.kind, f.severity, f.text) for f in report.findings]


def test_a_true_attributed_number_passes_with_where_it_was_found(tmp_path, document) -> None:
    record = _record(document, sections=("Experiments",))
    report, findings = _check(tmp_path, record, "Circular and neural fingerprint distances correlate with "
                                                "$r = 0.82$ \\citep{duvenaud2015convolutional}.")
    assert findings == []
    assert {"number": "0.82", "source": f"cited paper {KEY} (Experiments)"}.items() <= report.matched[0].items()
    assert report.to_dict()["citations_read"] == [{"key": KEY, "read": [
        "abstract: shown in search results; added with the PhD's summary",
        "Experiments: read with full_text in the literature review"]}]


def test_a_fabricated_attributed_number_fails_and_becomes_feedback(tmp_path, document) -> None:
    record = _record(document, sections=("Experiments",))
    report, findings = _check(tmp_path, record, "Our 0.91 correlation beats prior work "
                                                "\\citep{duvenaud2015convolutional} by 12.5 points.")
    assert findings == [("unsupported_number", "error", "0.91"), ("unsupported_number", "error", "12.5")]
    assert "does not state it" in report.feedback() and "Experiments" in report.feedback()


def test_only_an_abstract_read_gives_a_warning_that_says_so(tmp_path, document) -> None:
    report, findings = _check(tmp_path, _record(document), "Distances correlate with $r = 0.82$ "
                                                             "\\citep{duvenaud2015convolutional}.")
    assert findings == [("unsupported_number", "warning", "0.82")]
    assert "could not be verified: only the abstract" in report.findings[0].message


def test_citing_a_paper_nobody_read_is_an_error(tmp_path, document) -> None:
    report, findings = _check(tmp_path, _record(document, abstract=False), "Graph networks learn fingerprints "
                                                                           "\\citep{duvenaud2015convolutional}.")
    assert findings == [("unread_citation", "error", KEY)]
    written = report.to_dict()
    assert written["citations_read"] == [{"key": KEY, "read": []}] and json.dumps(written)


def test_rounding_and_percent_forms_match_the_source(tmp_path) -> None:
    record = PaperRecord(id="x", title="t", summary="s", bibtex_key=KEY, bibtex=BIB, reads=[
        PaperRead(part="Results", how="read with full_text", text="Our model reaches 87.32% accuracy (0.4137 F1).")])
    for stated in ("87.3\\%", "0.873", "87\\%", "0.41"):
        _, findings = _check(tmp_path, record, f"A prior model reached {stated} \\citep{{{KEY}}}.")
        assert findings == [], stated
    _, findings = _check(tmp_path, record, f"A prior model reached 88.3\\% \\citep{{{KEY}}}.")
    assert findings == [("unsupported_number", "error", "88.3\\%")]


def test_a_number_past_the_shown_part_of_an_abstract_was_never_read(tmp_path) -> None:
    """Search results show the first 600 characters of an abstract; the record holds exactly that much."""
    abstract = "We study graph networks. " * 30 + "They reach 93.7% accuracy."
    read = PaperRead.abstract(abstract, 600, "shown in search results")
    assert read.part == "abstract (first 600 characters)" and len(read.text) == 600 and "93.7" not in read.text
    assert PaperRead.abstract("Short.", 600, "shown").part == "abstract"
    record = PaperRecord(id="x", title="t", summary="s", bibtex_key=KEY, bibtex=BIB, reads=[read])
    report, findings = _check(tmp_path, record, f"Graph networks reach 93.7\\% \\citep{{{KEY}}}.")
    assert findings == [("unsupported_number", "warning", "93.7\\%")]
    assert "only the abstract" in report.findings[0].message
