"""Model-written LaTeX against a private file of the user's: its content never reaches any output.

Each case is a document trying one primitive that reads files; the canary is a 0600 file in a 0700
directory. Judged by everything the compile leaves (the PDF with every stream inflated, the log, the
feedback), in hex too (\\pdffiledump), with bubblewrap and without it (as root: an unprivileged uid).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import time
import zlib
from pathlib import Path

import pytest

from labcoat.tools.latex import compile_latex, tex_missing

pytestmark = pytest.mark.timeout(300)

SECRET = "Zq9LEAKcanary7731xY"
HAVE_BWRAP = shutil.which("bwrap") is not None

PDFTEX = {
    "pdfobj_stream_file": r"\pdfcompresslevel=0 \immediate\pdfobj stream file {%(p)s}"
                          r"\pdfcatalog{/Leak \the\pdflastobj\space 0 R} Hello.",
    "pdfobj_uncompressed_later": r"\pdfobjcompresslevel=0 \immediate\pdfobj file {%(p)s}"
                                 r"\pdfcatalog{/Leak \the\pdflastobj\space 0 R} Hello.",
    "pdfximage": r"\pdfximage{%(p)s}\pdfrefximage\pdflastximage",
    "pdffiledump": r"\edef\x{\pdffiledump length 64 {%(p)s}}[\x]",
    "pdfmdfivesum": r"\edef\x{\pdfmdfivesum file {%(p)s}}[\x]",
    "input_absolute": r"\input{%(p)s}",
    "openin_read": r"\newread\r \immediate\openin\r=%(p)s \ifeof\r\else\read\r to\x [\x]\fi",
    "write18": r"\immediate\write18{cat %(p)s > leak.tex}\IfFileExists{leak.tex}{\input{leak.tex}}{}",
    "font_by_path": r"\font\x=%(p)s \x Hello.",
    "pdfmapline_fontfile": r"\pdfmapline{=cmr10 CMR10 <%(p)s}Hello.",
    "pdfmapfile": r"\pdfmapfile{=%(p)s}Hello.",
    "embedded_file_annot": r"\pdfannot width 1pt height 1pt {/Subtype/FileAttachment/FS<</Type/Filespec"
                           r"/F (%(p)s)>>}Hello.",
}
XETEX = {
    "xdv_fstream_special": r"\special{pdf:fstream @leak (%(p)s)}\special{pdf:put @catalog <</Leak @leak>>}Hello.",
    "xetex_picfile": r"\XeTeXpicfile \"%(p)s\" ",
    "xetex_pdffile": r"\XeTeXpdffile \"%(p)s\" ",
    "xetex_font_by_path": r"\font\x=\"[%(p)s]\" \x Hello.",
    "input_absolute": r"\input{%(p)s}",
}
LUATEX = {
    "directlua_io_open": r"\directlua{local f = io.open('%(p)s') if f then tex.print(f:read('*a')) end}",
}


def _inflated(data: bytes) -> bytes:
    """The PDF with every Flate stream it holds decompressed and appended."""
    out = [data]
    for m in re.finditer(rb"stream\r?\n", data):
        try:
            out.append(zlib.decompressobj().decompress(data[m.end():m.end() + 4_000_000]))
        except zlib.error:
            continue
    return b"\n".join(out)


def _leaked(texts: list[bytes]) -> bool:
    secret = SECRET.encode()
    forms = [secret, secret.hex().encode(), secret.hex().upper().encode(),
             hashlib.md5(secret + b"\n").hexdigest().upper().encode()]
    return any(form in blob for blob in texts for form in forms)


@pytest.fixture
def canary(tmp_path):
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    path = private / "notes.txt"
    path.write_text(SECRET + "\n")
    path.chmod(0o600)
    return path


def _mode(request):
    mode = request.param
    if mode == "bwrap" and not HAVE_BWRAP:
        pytest.skip("bubblewrap is not installed")
    if mode == "rlimits-only" and os.geteuid() != 0:
        pytest.skip("without bubblewrap only root (dropping to another uid) keeps the user's files out")
    return mode


@pytest.fixture(params=["bwrap", "rlimits-only"])
def mode(request):
    return _mode(request)


# The primitives that did leak before TeX ran in the sandbox stay in the default suite; the rest are slow.
LEAKED_BEFORE = {"pdfobj_stream_file", "pdfobj_uncompressed_later", "xdv_fstream_special", "directlua_io_open"}


def _cases():
    for engine, prefix, table in (("pdf", "pdftex", PDFTEX), ("xelatex", "xetex", XETEX),
                                  ("lualatex", "luatex", LUATEX)):
        for name, body in table.items():
            marks = () if name in LEAKED_BEFORE else (pytest.mark.slow,)
            yield pytest.param(engine, body, id=f"{prefix}-{name}", marks=marks)


@pytest.mark.parametrize("engine,body", list(_cases()))
def test_no_primitive_brings_a_private_file_into_any_output(tmp_path, canary, mode, engine, body):
    if tex_missing(engine):
        pytest.skip(tex_missing(engine))
    doc = tmp_path / "doc"
    doc.mkdir()
    tex = "\\documentclass{article}\n\\begin{document}\n" + body.replace("%(p)s", str(canary)) + "\n\\end{document}\n"
    (doc / "report.tex").write_text(tex)
    out = tmp_path / "out"
    result = compile_latex(doc, "report.tex", engine=engine, out_dir=out, timeout=120, sandbox=mode)
    assert result.sandbox == mode
    blobs = [result.feedback().encode(), result.log_excerpt.encode(), str(result.to_dict()).encode()]
    for path in [*out.rglob("*"), *doc.rglob("*")]:
        if path.is_file():
            blobs.append(_inflated(path.read_bytes()))
    assert not _leaked(blobs), f"{engine} {body!r} leaked the canary ({mode})"


OPENOUT_LOOP = r"""\documentclass{article}
\newwrite\out
\newcount\n
\newcount\m
\begin{document}
\def\chunk{xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx}
\edef\chunk{\chunk\chunk\chunk\chunk\chunk\chunk\chunk\chunk\chunk\chunk}
\edef\chunk{\chunk\chunk\chunk\chunk\chunk\chunk\chunk\chunk\chunk\chunk}
\def\fill{\immediate\write\out{\chunk}\advance\m by 1 \ifnum\m<10000 \expandafter\fill\fi}
\loop
  \immediate\openout\out=junk\the\n.txt
  \m=0 \fill
  \immediate\closeout\out
  \advance\n by 1
\ifnum\n<1000 \repeat
\end{document}
"""


@pytest.mark.parametrize("mode", ["bwrap", pytest.param("rlimits-only", marks=pytest.mark.slow)], indirect=True)
def test_an_openout_loop_is_stopped_by_the_disk_quota(tmp_path, mode, monkeypatch):
    import tempfile

    if tex_missing("pdf"):
        pytest.skip(tex_missing("pdf"))
    doc = tmp_path / "doc"
    doc.mkdir()
    (doc / "report.tex").write_text(OPENOUT_LOOP)
    # Where the compile's scratch copy goes, to see that nothing stays (reachable by another uid too).
    scratch = Path(tempfile.mkdtemp(prefix="labcoat-test-scratch-", dir="/tmp"))
    scratch.chmod(0o755)
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    started = time.monotonic()
    result = compile_latex(doc, "report.tex", out_dir=tmp_path / "out", timeout=150, sandbox=mode)
    assert not result.ok
    assert any(issue.kind == "limit" and "disk" in issue.message for issue in result.errors), result.feedback()
    assert time.monotonic() - started < 140
    left = list(scratch.iterdir())
    shutil.rmtree(scratch, ignore_errors=True)
    assert left == []
    assert sum(p.stat().st_size for p in (tmp_path / "out").rglob("*")) < 10 * 1024 * 1024


def test_labcoat_compile_rebuilds_a_folder_through_the_sandbox(tmp_path, canary):
    import subprocess
    import sys

    if tex_missing("pdf"):
        pytest.skip(tex_missing("pdf"))
    folder = tmp_path / "paper"
    folder.mkdir()
    (folder / "report.tex").write_text("\\documentclass{article}\n\\begin{document}\nHello.\n\\end{document}\n")
    done = subprocess.run([sys.executable, "-m", "labcoat", "compile", str(folder)], capture_output=True, text=True,
                          timeout=200)
    assert done.returncode == 0 and "wrote" in done.stdout, done.stdout + done.stderr
    assert (folder / "report.pdf").read_bytes().startswith(b"%PDF")
    body = PDFTEX["pdfobj_stream_file"].replace("%(p)s", str(canary))
    (folder / "report.tex").write_text("\\documentclass{article}\n\\begin{document}\n" + body + "\n\\end{document}\n")
    done = subprocess.run([sys.executable, "-m", "labcoat", "compile", str(folder)], capture_output=True, text=True,
                          timeout=200)
    assert done.returncode == 1 and "cannot open file for embedding" in done.stdout, done.stdout
    assert not _leaked([_inflated(p.read_bytes()) for p in folder.iterdir()] + [done.stdout.encode()])
    (folder / "report.tex").write_text("\\documentclass{article}\n\\begin{document}\n\\undefinedthing\n\\end{document}\n")
    done = subprocess.run([sys.executable, "-m", "labcoat", "compile", str(folder)], capture_output=True, text=True,
                          timeout=200)
    assert done.returncode == 1 and "report.tex:3: Undefined control sequence" in done.stdout, done.stdout
    assert "Traceback" not in done.stderr
