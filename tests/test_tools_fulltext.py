"""Full text from the fixture PDFs and from e-print sources served on loopback; broken files; BibTeX."""

from __future__ import annotations

import gzip
import io
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from pypdf import PdfWriter

from labcoat.tools import bibtex, fulltext
from labcoat.tools.errors import ToolError
from labcoat.tools.research import ResearchTools
from tests.test_tools_arxiv import make_config

PAPERS = {
    "paperqa_pasa.pdf": ("PaSa: An LLM Agent for Comprehensive Academic Paper Search",
                         ["reinforcement learning", "AutoScholarQuery"],
                         ["Abstract", "1 Introduction", "2 Related Work", "6 Conclusion", "References"]),
    "hips_neural_fingerprints_arxiv1509.09292.pdf": (
        "Convolutional Networks on Graphs for Learning Molecular Fingerprints",
        ["operates directly on graphs", "circular fingerprints"],
        ["Abstract", "1 Introduction", "5 Limitations", "7 Conclusion", "References"]),
    "arxiv_1111.2011v2.pdf": ("Quantum Criticality for Extended Nodes on a Bethe Lattice",
                              ["quantum rotor model", "large connectivity"],
                              ["I. INTRODUCTION", "V. DISCUSSION"]),
}


@pytest.mark.parametrize("name", sorted(PAPERS))
@pytest.mark.parametrize("engine", ["pdfium", "pypdf"])
def test_pdf_text_title_abstract_and_sections(fixtures_dir, name, engine):
    title, phrases, sections = PAPERS[name]
    doc = fulltext.from_pdf((fixtures_dir / "pdf" / name).read_bytes(), paper_id=name, engine=engine)
    names = [s["name"] for s in doc["sections"]]
    for wanted in sections:
        assert wanted in names, (wanted, names)
    if engine == "pdfium":
        assert doc["title"].startswith(title)
    text = " ".join(" ".join(s["text"] for s in doc["sections"]).split())
    for phrase in phrases:
        assert phrase in text
    assert "\ufb01" not in text and "\x02" not in text and "\r" not in text
    # Agents ask for one section and get only it.
    intro = fulltext.select(doc, "introduction", max_chars=500)
    assert intro["section"].lower().endswith("introduction") and len(intro["text"]) <= 500
    assert intro["chunks"] >= 2 and intro["sections"] == names


def test_hyphenation_and_ligatures_are_undone():
    from labcoat.tools.pdftext import normalise

    assert normalise("pre\x02dictive e\ufb03cient\r\ncompre-\nhensive") == "predictive efficient\ncomprehensive"


def test_missing_section_and_chunk_are_clear(fixtures_dir):
    doc = fulltext.from_pdf((fixtures_dir / "pdf" / "paperqa_pasa.pdf").read_bytes(), paper_id="p")
    missing = fulltext.select(doc, "Quantum gravity")
    assert missing["kind"] == "bad_input" and "1 Introduction" in missing["error"]
    assert fulltext.select(doc, "2")["section"] == "2 Related Work"
    assert "out of range" in fulltext.select(doc, "Abstract", chunk=99)["error"]


def _blank_pdf(pages: int, password: str | None = None) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=200, height=200)
    if password:
        writer.encrypt(password)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def test_broken_pdfs_give_clear_errors(fixtures_dir):
    good = (fixtures_dir / "pdf" / "arxiv_1111.2011v2.pdf").read_bytes()
    cases = {
        "truncated": (good[: len(good) // 3], "malformed", "truncated"),
        "random": (os.urandom(5000), "malformed", "not a PDF"),
        "empty": (b"", "malformed", "empty"),
        "html": (b"<html><body>Access denied</body></html>", "malformed", "not a PDF"),
        "encrypted": (_blank_pdf(1, password="secret"), "encrypted", "password"),
        "huge": (_blank_pdf(2000), "too_large", "2000 pages"),
    }
    for label, (data, kind, words) in cases.items():
        with pytest.raises(ToolError) as info:
            fulltext.from_pdf(data, paper_id=label)
        assert info.value.kind == kind, label
        assert words in str(info.value), (label, str(info.value))


def eprint_tar(fixtures_dir: Path) -> bytes:
    """The fixture paper as arXiv would serve a multi-file source: a section moved to its own \\input file."""
    src = fixtures_dir / "latex" / "neural_fingerprints_1509.09292"
    tex = (src / "paper_for_arxiv.tex").read_text(encoding="utf-8")
    start, end = tex.index("\\section{Limitations}"), tex.index("\\section{Related work}")
    main = tex[:start] + "\\input{sections/limits}\n" + tex[end:]
    files = {"paper_for_arxiv.tex": main.encode(), "sections/limits.tex": tex[start:end].encode(),
             "references.bib": (src / "references.bib").read_bytes(), "fig_1.pdf": b"%PDF-1.4 figure"}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_eprint_tar_gz_is_flattened(httpserver, fixtures_dir, tmp_path):
    httpserver.expect_request("/e-print/1509.09292v1").respond_with_data(
        eprint_tar(fixtures_dir), content_type="application/gzip")
    tools = ResearchTools(make_config(httpserver), cache_dir=tmp_path)
    whole = tools.full_text(None, "1509.09292v1", max_chars=200000)
    assert whole["format"] == "latex" and whole["title"] == (
        "Convolutional Networks on Graphs for Learning Molecular Fingerprints")
    assert whole["sections"] == ["Abstract", "Introduction", "Circular fingerprints",
                                 "Creating a differentiable fingerprint", "Experiments", "Limitations",
                                 "Related work", "Conclusion"]
    text = whole["text"]
    assert "We introduce a convolutional neural network that operates directly on graphs." in text
    assert "Predicting properties of molecules requires" not in text  # a commented-out line
    assert "\\input" not in text and "\\section" not in text and "\\begin{" not in text
    limits = tools.full_text(None, "1509.09292v1", section="limitations")
    assert limits["section"] == "Limitations" and "Computational cost" in limits["text"]
    assert limits["text"] in text
    tools.close()


def test_single_file_gz_eprint_and_pdf_fallbacks(httpserver, fixtures_dir, tmp_path):
    tex = (fixtures_dir / "latex" / "neural_fingerprints_1509.09292" / "paper_for_arxiv.tex").read_bytes()
    pdf = (fixtures_dir / "pdf" / "arxiv_1111.2011v2.pdf").read_bytes()
    httpserver.expect_request("/e-print/1509.09292").respond_with_data(gzip.compress(tex))
    httpserver.expect_request("/e-print/1111.2011v2").respond_with_data(pdf)  # a PDF-only submission
    httpserver.expect_request("/e-print/1111.2011v1").respond_with_data(gzip.compress(os.urandom(300))[:-20])
    httpserver.expect_request("/pdf/1111.2011v1").respond_with_data(pdf)
    tools = ResearchTools(make_config(httpserver), cache_dir=tmp_path)
    single = tools.full_text(None, "1509.09292", section="Abstract")
    assert single["format"] == "latex" and "operates directly on graphs" in single["text"]
    as_pdf = tools.full_text(None, "1111.2011v2", section="discussion")
    assert as_pdf["format"] == "pdf" and as_pdf["section"] == "V. DISCUSSION"
    fallback = tools.full_text(None, "1111.2011v1", section="Introduction")
    assert fallback["format"] == "pdf" and fallback["section"] == "I. INTRODUCTION"
    httpserver.expect_request("/e-print/2001.00001").respond_with_data(b"nope", status=404)
    httpserver.expect_request("/pdf/2001.00001").respond_with_data(b"<html>not here</html>")
    broken = tools.full_text(None, "2001.00001")
    assert broken["kind"] == "malformed" and "not a PDF" in broken["error"]
    tools.close()


def _papers(fixtures_dir: Path) -> list[dict]:
    from arxiv import _feed

    from labcoat.tools.arxiv_source import to_paper
    from tests.test_tools_arxiv import recorded_feeds

    status, body = recorded_feeds(fixtures_dir)[("testing", "", "0", "100")]
    return [to_paper(r) for r in _feed.parse(body).results]


ENTRY = re.compile(r"@(article|misc)\{([A-Za-z0-9]+),\n((?:  [A-Za-z]+ = \{.*\},\n)*  [A-Za-z]+ = \{.*\})\n\}\n")


def _balanced(text: str) -> bool:
    depth = 0
    for i, ch in enumerate(text):
        if ch == "{" and (i == 0 or text[i - 1] != "\\"):
            depth += 1
        elif ch == "}" and (i == 0 or text[i - 1] != "\\"):
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def test_bibtex_entries_parse(fixtures_dir, tmp_path):
    papers = _papers(fixtures_dir)
    assert len(papers) == 100
    entries = [bibtex.entry(p) for p in papers]
    for paper, text in zip(papers, entries):
        m = ENTRY.fullmatch(text)
        assert m and _balanced(text), text
        fields = dict(re.findall(r"  ([A-Za-z]+) = \{(.*)\}", m.group(3)))
        assert fields["eprint"] == re.sub(r"v\d+$", "", paper["id"]) and fields["archivePrefix"] == "arXiv"
        assert fields["year"] == paper["published"][:4] and fields["primaryClass"] == paper["primary_category"]
        assert ("journal" in fields) == bool(paper["journal_ref"])
        assert ("doi" in fields) == bool(paper["doi"])
    parsed = bibtex.parse("\n".join(entries))
    assert [e["key"] for e in parsed] == [bibtex.cite_key(p) for p in papers]
    assert bibtex.cite_key(papers[0]) == bibtex.cite_key(dict(papers[0]))  # stable
    # The fixture's own .bib (344 entries, 66 of them @string) reads back too.
    refs = bibtex.parse((fixtures_dir / "latex" / "neural_fingerprints_1509.09292" / "references.bib")
                        .read_text(encoding="utf-8", errors="replace"))
    assert len(refs) == 278 and all(e["key"] and e["fields"] for e in refs)


@pytest.mark.skipif(shutil.which("bibtex") is None, reason="needs TeX Live's bibtex")
def test_bibtex_program_accepts_the_entries(fixtures_dir, tmp_path):
    papers = _papers(fixtures_dir)
    by_key = {}
    for p in papers:
        by_key.setdefault(bibtex.cite_key(p), bibtex.entry(p))
    (tmp_path / "refs.bib").write_text("\n".join(by_key.values()), encoding="utf-8")
    (tmp_path / "doc.aux").write_text("\\citation{*}\n\\bibdata{refs}\n\\bibstyle{plain}\n")
    run = subprocess.run(["bibtex", "doc"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    log = (tmp_path / "doc.blg").read_text(errors="replace")
    assert run.returncode == 0 and "error message" not in log, log[-2000:]
    assert (tmp_path / "doc.bbl").read_text(errors="replace").count("\\bibitem") == len(by_key)
