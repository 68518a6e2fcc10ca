"""LaTeX: the report scaffold compiles with real latexmk; errors come back with lines."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from labcoat.artefacts import MetricValue
from labcoat.report.lines import (EditError, body_view, document_problems, edit_lines, numbered, replace_document,
                                  section_span, set_section, with_preamble)
from labcoat.report.scaffold import SECTIONS, render_scaffold, write_report_dir
from labcoat.report.toolchain import report_toolchain
from labcoat.tools.latex import compile_latex, parse_blg, parse_log, tex_available, tex_missing
from labcoat.tools.latex_markdown import render_markdown, write_markdown_fallback

needs_tex = pytest.mark.skipif(not tex_available() or shutil.which("pdftotext") is None,
                               reason="latexmk/pdflatex or pdftotext not installed")

BIB = r"""@article{smith2020probe,
  title={Probing Tiny Language Models for Syntax},
  author={Smith, Jane and Doe, John},
  journal={arXiv preprint arXiv:2001.00001},
  year={2020}
}
"""


def _png() -> bytes:
    """A valid 2x2 grey PNG, so pdflatex can include it."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    pixels = zlib.compress(b"\x00\x80\x80" * 2)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 0, 0, 0, 0)) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def _paper(tmp_path: Path) -> Path:
    tex = render_scaffold("Sparse Probes for Tiny Models", "labcoat")
    tex = set_section(tex, "introduction", r"Probes read syntax from hidden states \citep{smith2020probe}. Zürich-style naïve UTF-8 text.")
    tex = set_section(tex, "results", r"\Cref{tab:metrics} lists the recorded metrics.")
    figure = tmp_path / "accuracy curve.png"
    figure.write_bytes(_png())
    metrics = [MetricValue(name="dev_accuracy", value=0.87321), MetricValue(name="dev_loss", value=0.000123, higher_is_better=False)]
    return write_report_dir(tmp_path / "report", tex, BIB, metrics=metrics, figures=[figure])


@needs_tex
def test_scaffold_compiles_with_sections_metric_and_bibliography(tmp_path: Path) -> None:
    main = _paper(tmp_path)
    result = compile_latex(main.parent, timeout=120)
    assert result.ok, result.feedback()
    assert result.pdf == main.parent / "report.pdf" and result.errors == [] and result.warnings == []
    text = subprocess.run(["pdftotext", str(result.pdf), "-"], capture_output=True, text=True, check=True).stdout
    for _, heading in SECTIONS:
        assert heading in text
    assert "Abstract" in text and "0.8732" in text and "Zürich-style naïve" in text
    assert "probing tiny language models for syntax" in text.lower() and "References" in text
    assert (main.parent / "figures" / "accuracy_curve.png").is_file()


@needs_tex
def test_undefined_control_sequence_and_missing_brace_come_back_with_their_line(tmp_path: Path) -> None:
    main = _paper(tmp_path)
    good = main.read_text()
    first, _ = section_span(good, "methods")

    main.write_text(edit_lines(good, first, first - 1, [r"We fit \probemodel{x} to states."]))
    result = compile_latex(main.parent, timeout=60)
    assert not result.ok
    error = result.errors[0]
    assert (error.kind, error.file, error.line) == ("error", "report.tex", first)
    assert error.message == "Undefined control sequence." and r"\probemodel" in error.context
    assert f"report.tex:{first}: Undefined control sequence." in result.feedback()

    # the pre-compile check refuses an unclosed brace; written anyway, TeX's runaway is located
    with pytest.raises(EditError, match=f"line {first}: '{{' is never closed"):
        edit_lines(good, first, first - 1, [r"We fit \textbf{bold probes to states."])
    lines = good.split("\n")
    lines.insert(first - 1, r"We fit \textbf{bold probes to states.")
    main.write_text("\n".join(lines))
    result = compile_latex(main.parent, timeout=60)
    assert not result.ok and result.errors[0].line == first
    assert "closing brace is probably missing" in result.errors[0].message


@needs_tex
def test_compile_cannot_read_files_outside_the_paper_and_times_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-must-not-leak")
    doc = tmp_path / "doc"
    doc.mkdir()
    (doc / "report.tex").write_text("\\documentclass{article}\n\\begin{document}\n\\input{/proc/self/environ}\n\\end{document}\n")
    result = compile_latex(doc, timeout=60)
    assert not result.ok and result.errors[0].kind == "missing_file" and result.errors[0].line == 3
    assert "sk-test" not in (doc / "report.log").read_text()

    # a PDF figure beside the document is an input, not a stale output
    (doc / "report.tex").write_text("\\documentclass{article}\n\\begin{document}\nFigure page.\n\\end{document}\n")
    assert compile_latex(doc, timeout=60).ok
    (doc / "figures").mkdir()
    (doc / "report.pdf").rename(doc / "figures" / "page.pdf")
    (doc / "report.tex").write_text("\\documentclass{article}\n\\usepackage{graphicx}\n\\begin{document}\n"
                                    "\\includegraphics[width=3cm]{figures/page.pdf}\n\\end{document}\n")
    included = compile_latex(doc, timeout=60)
    assert included.ok, included.feedback()

    (doc / "report.tex").write_text("\\documentclass{article}\n\\begin{document}\n\\def\\loop{\\loop}\\loop\n\\end{document}\n")
    result = compile_latex(doc, timeout=3)
    assert result.timed_out and not result.ok and result.errors[0].kind == "timeout"


def test_missing_tex_is_reported_not_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "report.tex").write_text("\\documentclass{article}\\begin{document}x\\end{document}\n")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert "latexmk" in tex_missing()
    result = compile_latex(tmp_path)
    assert not result.ok and result.errors[0].kind == "unavailable" and "TeX Live" in result.errors[0].message
    with pytest.raises(FileNotFoundError):
        compile_latex(tmp_path, main="absent.tex")


def test_cjk_languages_need_xecjk() -> None:
    chinese = report_toolchain("Chinese")
    assert chinese.engine == "xelatex" and report_toolchain("English").engine == "pdf"
    tex = render_scaffold("中文标题", language="中文")
    assert r"\usepackage{xeCJK}" in tex and "中文标题" in tex and document_problems(tex) == []
    assert "# 中文标题" in render_markdown(tex)  # the fallback when this machine cannot compile CJK


def test_parse_log_reads_classic_and_warning_formats() -> None:
    log = "\n".join([
        "! LaTeX Error: File `missing.sty' not found.", "", "./report.tex:7: Emergency stop.", "<read *>", "l.7 \\usepackage{missing}",
        "LaTeX Warning: Citation `ghost2021' on page 2 undefined on input line 33.",
        "Package natbib Warning: Citation `ghost2021' on page 2 undefined on input line 35.",
        "LaTeX Warning: Reference `fig:none' on page 3 undefined on input line 40.",
    ])
    errors, warnings = parse_log(log)
    assert [(e.kind, e.file, e.line) for e in errors] == [("missing_file", "report.tex", 7)]
    assert [(w.kind, w.line) for w in warnings] == [("undefined_citation", 33), ("undefined_reference", 40)]


def test_parse_blg_reads_bibtex_errors_with_their_bib_line() -> None:
    blg = "\n".join([
        "Database file #1: references.bib",
        "I was expecting a `,' or a `}'---line 5 of file references.bib",
        " : ",
        'Warning--I didn\'t find a database entry for "ghost2021"',
        "(There were 1 error messages)",
    ])
    warnings: list = []
    errors = parse_blg(blg, warnings)
    assert [(e.kind, e.file, e.line, e.message) for e in errors] == [
        ("bibtex", "references.bib", 5, "I was expecting a `,' or a `}'")]
    assert [(w.kind, w.message) for w in warnings] == [("undefined_citation", "citation 'ghost2021' has no entry in the .bib file")]


def test_edits_are_validated_and_numbered() -> None:
    tex = render_scaffold("T")
    first, last = section_span(tex, "discussion")
    assert numbered(tex, first - 1, first - 1) == f"{first - 1}| \\section{{Discussion}}\\label{{sec:discussion}}"
    with pytest.raises(EditError, match="outside the paper"):
        edit_lines(tex, 10_000, 10_000, "x")
    with pytest.raises(EditError, match=r"\\begin\{itemize\} of line"):
        edit_lines(tex, first, first - 1, [r"\begin{itemize}", r"\item one"])
    with pytest.raises(EditError, match="no \\\\end\\{document\\}"):
        edit_lines(tex, first, len(tex.split("\n")), [])
    edited = edit_lines(tex, first, last, [r"\begin{itemize}", r"\item one", r"\end{itemize}"])
    assert document_problems(edited) == [] and "\\item one" in edited


def test_writers_see_the_body_numbered_and_a_body_replace_keeps_the_preamble() -> None:
    tex = render_scaffold("Scaling and ranks")
    summary, body = body_view(tex)
    begin = tex.split("\n").index(r"\begin{document}") + 1
    assert body.split("\n")[0] == f"{begin}| \\begin{{document}}" and r"\usepackage" not in body
    assert f"lines 1-{begin - 1}, the preamble" in summary and "booktabs" in summary and "natbib" in summary
    assert "title line" in summary and "Scaling and ranks" in summary
    assert body_view(r"\begin{document}x\end{document}")[0] == ""  # nothing to summarise
    new = with_preamble(tex, "\\begin{document}\nNew body.\n\\end{document}\n")
    assert replace_document(new).startswith(tex.split(r"\begin{document}")[0]) and "New body." in new
    whole = "\\documentclass{article}\n\\begin{document}\nAll new.\n\\end{document}\n"
    assert with_preamble(tex, whole) == whole


def test_markdown_rendering_of_a_real_paper(fixtures_dir: Path) -> None:
    tex = (fixtures_dir / "latex" / "neural_fingerprints_1509.09292" / "paper_for_arxiv.tex").read_text()
    md = render_markdown(tex)
    assert md.startswith("# Convolutional Networks on Graphs")
    assert "## Abstract" in md and "## Introduction" in md and "## Related work" in md
    assert "[unterthinerdeep; dahl2014multi; ramsundar2015massively]" in md
    assert "$\\mathcal{O}(RNFL + RNF^2)$" in md
    assert "\\section" not in md and "\\cite" not in md and "\\begin{itemize}" not in md
    table = render_markdown("\\begin{document}\\begin{tabular}{lr}\\toprule A & B \\\\ \\midrule x & 0.5 \\\\ \\bottomrule\\end{tabular}\\end{document}")
    assert "| A | B |\n|---|---|\n| x | 0.5 |" in table
    # Unclosed braces cost one pass, not one scan each: 5000 of them render (the quadratic way took minutes).
    assert render_markdown("\\begin{document}" + "\\textbf{open " * 5000 + "\\end{document}").count("open") == 5000


def test_markdown_inlines_generated_table(tmp_path: Path) -> None:
    main = _paper(tmp_path)
    written = write_markdown_fallback(main.parent, "compile-latex is false in the config")
    md = written.read_text()
    assert written.name == "report.md" and md.startswith("> This report was not compiled to PDF: compile-latex is false")
    assert "## Results" in md and "| dev\\_accuracy" not in md and "| dev_accuracy | dev | 0.8732 |" in md
    assert "[smith2020probe]" in md and "![accuracy_curve.png](accuracy_curve.png)" in md
