"""`labcoat doctor`'s LaTeX check: the report template's own packages are required, CJK support is a note.

TeX is replaced by small scripts on PATH, so the check's real code path
(which, kpsewhich through subprocess) runs the same on any machine.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from labcoat.cli import build_app
from labcoat.run.readiness import check_latex
from labcoat.report.scaffold import render_scaffold, tex_requirements

# Prints a path for every file asked for except those named in $FAKE_TEX_MISSING, as kpsewhich does.
KPSEWHICH = """#!/bin/sh
for f in "$@"; do
  case " $FAKE_TEX_MISSING " in *" $f "*) ;; *) echo "/usr/share/texmf/tex/latex/x/$f" ;; esac
done
"""


@pytest.fixture
def fake_tex(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A PATH holding only fake TeX tools; returns a function choosing which files are missing and tools present."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))

    def install(missing: tuple[str, ...] = (), tools: tuple[str, ...] = ("latexmk", "pdflatex", "kpsewhich")) -> None:
        for tool in ("latexmk", "pdflatex", "kpsewhich", "xelatex"):
            (bin_dir / tool).unlink(missing_ok=True)
        for tool in tools:
            script = bin_dir / tool
            script.write_text(KPSEWHICH if tool == "kpsewhich" else "#!/bin/sh\nexit 0\n")
            script.chmod(0o755)
        monkeypatch.setenv("FAKE_TEX_MISSING", " ".join(missing))

    return install


def test_requirements_are_what_the_templates_load() -> None:
    english = tex_requirements("English")
    assert {"article.cls", "amsmath.sty", "cleveref.sty", "algpseudocode.sty", "lmodern.sty",
            "plainnat.bst"} <= set(english)
    # packages the template does not load are not asked for (they made doctor warn on most machines)
    assert not {"xeCJK.sty", "siunitx.sty", "times.sty", "algorithmic.sty"} & set(english)
    # typography-only packages are loaded when installed, so they are not required
    assert "microtype.sty" not in english and r"\IfFileExists{microtype.sty}" in render_scaffold("t")
    chinese = tex_requirements("Chinese")
    assert {"fontspec.sty", "xeCJK.sty"} <= set(chinese) and "inputenc.sty" not in chinese


def test_missing_cjk_support_is_a_note_not_a_warning(fake_tex, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_tex(missing=("xeCJK.sty",))
    check = check_latex()
    assert check.status == "ok", check
    assert "optional, only for Chinese, Japanese or Korean reports: xelatex not found" in check.detail
    assert "texlive-lang-chinese" in check.detail and check.fix == ""

    monkeypatch.setenv("COLUMNS", "400")  # one table row per check, so the LaTeX row reads whole
    monkeypatch.setattr("labcoat.run.readiness.CHECKS", [check_latex])  # the local model's check alone takes seconds
    result = CliRunner().invoke(build_app(), ["doctor"])
    assert result.exit_code == 0, result.output
    [row] = [line for line in result.output.splitlines() if "LaTeX" in line]
    assert " ok " in row and "warn" not in row and "optional" in row


def test_a_missing_template_package_warns_with_its_install_command(fake_tex) -> None:
    fake_tex(missing=("cleveref.sty", "plainnat.bst", "xeCJK.sty", "siunitx.sty"))
    check = check_latex()
    assert check.status == "warn"
    assert check.detail.endswith("missing packages the report template uses: cleveref.sty, plainnat.bst")
    assert "texlive-latex-extra" in check.fix and check.fix.endswith("(or: tlmgr install cleveref plainnat)")
    assert "chinese" not in check.fix


def test_with_xelatex_and_xecjk_cjk_reports_are_reported_possible(fake_tex) -> None:
    fake_tex(tools=("latexmk", "pdflatex", "kpsewhich", "xelatex"))
    check = check_latex()
    assert check.status == "ok" and "CJK reports can be compiled too (xelatex, fontspec.sty, xeCJK.sty, FandolSong-Regular.otf" in check.detail
    assert f"the {len(tex_requirements())} TeX files the report template loads" in check.detail


def test_no_latexmk_or_no_kpsewhich_warns(fake_tex) -> None:
    fake_tex(tools=())
    check = check_latex()
    assert check.status == "warn" and "no PDF; missing: latexmk, pdflatex" in check.detail
    fake_tex(tools=("latexmk", "pdflatex"))
    check = check_latex()
    assert check.status == "warn" and check.detail.endswith("missing: kpsewhich")
