"""Compile LaTeX with latexmk and turn its log into errors a model can act on.

`compile_latex` runs latexmk in the program sandbox (`labcoat.sandbox`) on a
scratch copy (a failed candidate leaves nothing behind): only the TeX tree,
the fonts and the build directory are visible, no network, a scrubbed
environment, rlimits, a disk quota and the compile timeout. Inside, shell
escape is off and TeX's own file access is paranoid too (`openin_any=p`):
pdfTeX's object primitives (`\\pdfobj stream file`) ignore that rule, so the
sandbox is what keeps the user's files out of the PDF. Without bubblewrap the
result says so (`sandbox == "rlimits-only"`, `NO_ISOLATION_TEX`). When TeX is
missing or compilation is switched off, the caller renders Markdown instead
(`labcoat.tools.latex_markdown.render_markdown`) and says so.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ENGINE_FLAGS = {"pdf": "-pdf", "xelatex": "-xelatex", "lualatex": "-lualatex"}
ENGINE_BINARIES = {"pdf": "pdflatex", "xelatex": "xelatex", "lualatex": "lualatex"}
MAX_LOG_CHARS = 2_000_000
MAX_EXCERPT_CHARS = 4_000


@dataclass
class LatexIssue:
    """One problem found in a LaTeX log: where, what, and the source excerpt TeX showed."""

    kind: str  # error | missing_file | undefined_citation | undefined_reference | bibtex | timeout
    message: str
    file: str | None = None
    line: int | None = None
    context: str = ""

    def describe(self) -> str:
        if self.line:
            where = f"{self.file}:{self.line}" if self.file else f"line {self.line}"
        else:
            where = self.file or ""
        text = f"{where}: {self.message}" if where else self.message
        return f"{text}\n    {self.context}" if self.context else text


@dataclass
class CompileResult:
    ok: bool
    engine: str
    pdf: Path | None = None
    errors: list[LatexIssue] = field(default_factory=list)
    warnings: list[LatexIssue] = field(default_factory=list)
    log_excerpt: str = ""
    timed_out: bool = False
    seconds: float = 0.0
    sandbox: str = "bwrap"  # "rlimits-only" when bubblewrap was missing: see NO_ISOLATION_TEX

    def feedback(self, limit: int = 3) -> str:
        """The first errors (then warnings) as text for the model's next edit."""
        if self.ok and not self.warnings:
            return "The paper compiled without errors or warnings."
        lines = ["The paper compiled." if self.ok else "The paper did not compile."]
        for issue in self.errors[:limit]:
            lines.append("error: " + issue.describe())
        for issue in self.warnings[:limit]:
            lines.append("warning: " + issue.describe())
        if not self.ok and not self.errors:
            lines.append("No error was found in the log; its end reads:\n" + self.log_excerpt[-1500:])
        return "\n".join(lines)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["pdf"] = str(self.pdf) if self.pdf else None
        return data


def tex_missing(engine: str = "pdf") -> str:
    """Why this machine cannot compile with `engine`, or "" when it can."""
    if engine not in ENGINE_FLAGS:
        raise ValueError(f"unknown LaTeX engine {engine!r}; use one of {sorted(ENGINE_FLAGS)}")
    missing = [tool for tool in ("latexmk", ENGINE_BINARIES[engine]) if shutil.which(tool) is None]
    if missing:
        return f"{' and '.join(missing)} not found on PATH (install TeX Live: texlive-latex-extra, latexmk)"
    return ""


def tex_available(engine: str = "pdf") -> bool:
    return not tex_missing(engine)


def cjk_support() -> str:
    """Why CJK text cannot be typeset here (xelatex + xeCJK), or "" when it can."""
    missing = tex_missing("xelatex")
    if missing:
        return missing + "; CJK text needs texlive-xetex and texlive-lang-chinese"
    if shutil.which("kpsewhich") is None:
        return "kpsewhich not found; cannot look for xeCJK.sty"
    found = subprocess.run(["kpsewhich", "xeCJK.sty"], capture_output=True, text=True, timeout=30, check=False)
    if not found.stdout.strip():
        return "xeCJK.sty is not installed (Debian: texlive-lang-chinese)"
    return ""


# What TeX needs besides /usr: its variable tree, the font caches, its parts of /etc.
TEX_BINDS = ("/var/lib/texmf", "/var/cache/fontconfig")
TEX_ETC = ("/etc/texmf", "/etc/fonts", "/etc/alternatives", "/etc/ld.so.cache", "/etc/localtime")
MAX_PDF_BYTES = 200 * 1024 * 1024

NO_ISOLATION_TEX = ("LATEX WITHOUT ISOLATION: bubblewrap (bwrap) is not installed, so the paper was compiled with "
                    "resource limits only — pdfTeX's object primitives can read any file this user can and put "
                    "it into the PDF. Install it: sudo apt-get install bubblewrap")


def _tex_env() -> dict[str, str]:
    # On top of the sandbox's scrubbed environment: TeX's own file-access rules, paranoid.
    return {
        "openin_any": "p",  # no absolute paths, no ../, no dot files
        "openout_any": "p",
        "shell_escape": "f",
        "max_print_line": "10000",  # unwrapped log lines parse reliably
        "error_line": "254",
        "half_error_line": "238",
    }


def _tex_roots() -> list[str]:
    """TeX installations outside /usr (e.g. /opt/texlive/2024), found from latexmk's and the engines' paths."""
    roots = set()
    for tool in ("latexmk", *ENGINE_BINARIES.values()):
        found = shutil.which(tool)
        if found:
            real = Path(os.path.realpath(found))
            if not str(real).startswith("/usr/"):
                roots.add(str(real.parents[2] if len(real.parents) > 3 else real.parent))
    return sorted(roots)


def _tex_spec(work: Path, cmd: list[str], timeout: float, mode: str):
    from labcoat.sandbox import ProgramSpec

    path_dirs = sorted({os.path.dirname(shutil.which(t) or "/usr/bin/x") for t in ("latexmk", *ENGINE_BINARIES.values())})
    env = _tex_env() | {"PATH": ":".join([*path_dirs, "/usr/local/bin", "/usr/bin", "/bin"])}
    return ProgramSpec(workdir=str(work), command=cmd, env=env, timeout_s=timeout, cpu_s=int(timeout * 2) + 10,
                       memory_mb=4096, file_size_mb=256, disk_mb=256, max_processes=64, max_open_files=1024,
                       output_limit_kb=64, output_kill_mb=16, ro_binds=[*TEX_BINDS, *_tex_roots()],
                       etc=list(TEX_ETC), mode=mode)


def _read_bounded(path: Path, limit: int = MAX_LOG_CHARS) -> str:
    """The file's last `limit` bytes as text: TeX writes its errors at the end."""
    from labcoat.untrusted import UntrustedFileError, read_tail

    try:
        return read_tail(path, limit).decode("utf-8", errors="replace")
    except (FileNotFoundError, UntrustedFileError):
        return ""


def compile_latex(tex_dir: Path | str, main: str = "report.tex", *, timeout: float = 120.0,
                  engine: str = "pdf", out_dir: Path | str | None = None, sandbox: str = "auto") -> CompileResult:
    """Compile `tex_dir/main` with latexmk in the sandbox; copy the PDF and log to `out_dir` (default `tex_dir`).

    `sandbox` is the sandbox mode ("auto", "bwrap" to demand bubblewrap, "rlimits-only").
    """
    from labcoat.sandbox import run_program
    from labcoat.untrusted import UntrustedFileError, copy_file

    tex_dir = Path(tex_dir)
    out = Path(out_dir) if out_dir is not None else tex_dir
    if not (tex_dir / main).is_file():
        raise FileNotFoundError(f"{tex_dir / main} does not exist")
    missing = tex_missing(engine)
    if missing:
        return CompileResult(ok=False, engine=engine, errors=[LatexIssue("unavailable", missing)])
    stem = Path(main).stem
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="labcoat-tex-") as scratch:
        os.chmod(scratch, 0o755)  # without bwrap, root compiles as an unprivileged uid that must reach it
        work = Path(scratch) / "doc"
        outputs = {f"{stem}.{ext}" for ext in ("pdf", "aux", "log", "fls", "fdb_latexmk", "bbl", "blg", "out")}

        def stale(directory: str, names: list[str]) -> set[str]:
            # earlier outputs of this document only; PDF figures in subfolders are inputs
            return {name for name in names if name in outputs} if Path(directory) == tex_dir else set()

        shutil.copytree(tex_dir, work, ignore=stale, symlinks=True)
        cmd = ["latexmk", "-norc", ENGINE_FLAGS[engine], "-interaction=nonstopmode", "-halt-on-error",
               "-file-line-error", "-no-shell-escape", main]
        run = run_program(_tex_spec(work, cmd, timeout, sandbox))
        timed_out = run.killed_by == "timeout"
        log = _read_bounded(work / f"{stem}.log")
        errors, warnings = parse_log(log)
        errors += parse_blg(_read_bounded(work / f"{stem}.blg"), warnings)
        source = _read_bounded(work / main)
        for issue in errors:
            if issue.line is None and "runaway argument" in issue.message:
                issue.line, issue.file = locate_runaway(issue, source), issue.file or main
        if timed_out:
            errors.insert(0, LatexIssue("timeout", f"latexmk did not finish within {timeout:g} s and was stopped"))
        elif run.killed_by:
            errors.insert(0, LatexIssue("limit", f"the compile was stopped: it passed the sandbox's "
                                                 f"{run.killed_by.replace('_', ' ')} limit"))
        excerpt = log[-MAX_EXCERPT_CHARS:] or (run.stdout + run.stderr)[-MAX_EXCERPT_CHARS:]
        pdf_built = work / f"{stem}.pdf"
        ok = run.ok and pdf_built.is_file() and not pdf_built.is_symlink()
        if ok and errors:
            # latexmk succeeded; what bibtex complained about is worth fixing, not fatal.
            warnings = [*errors, *warnings]
            errors = []
        pdf = None
        out.mkdir(parents=True, exist_ok=True)
        if log:
            (out / f"{stem}.log").write_text(log, encoding="utf-8")
        if ok:
            pdf = out / f"{stem}.pdf"
            try:
                copy_file(pdf_built, pdf, MAX_PDF_BYTES)
            except UntrustedFileError as exc:
                ok, pdf = False, None
                errors.append(LatexIssue("limit", f"the PDF was not kept: {exc}"))
        elif not errors:
            errors.append(LatexIssue("error", f"latexmk exited with status {run.exit_code} and no error in the log"))
    return CompileResult(ok=ok, engine=engine, pdf=pdf, errors=errors, warnings=warnings,
                         log_excerpt=excerpt, timed_out=timed_out, seconds=round(time.monotonic() - started, 3),
                         sandbox=run.sandbox)


_FILE_LINE = re.compile(r"^(?P<file>(?:\.{1,2}/|/)?[^:\s][^:]*\.(?:tex|sty|cls|bbl|clo|def|cfg)):(?P<line>\d+): (?P<msg>.*)$")
_BANG = re.compile(r"^!\s?(?P<msg>\S.*)$")
_SOURCE_LINE = re.compile(r"^l\.(?P<line>\d+) ?(?P<src>.*)$")
_MISSING_FILE = re.compile(r"File [`'](?P<name>[^']+)' not found")
_UNDEF = re.compile(r"(?:LaTeX|Package natbib) Warning: (?P<what>Citation|Reference) [`'](?P<key>[^']+)' "
                    r"(?:on page \S+ )?undefined on input line (?P<line>\d+)")


def _clean_file(name: str) -> str:
    return name[2:] if name.startswith("./") else name


def parse_log(log: str, limit: int = 10) -> tuple[list[LatexIssue], list[LatexIssue]]:
    """(errors, warnings) from a TeX log, in order, at most `limit` of each."""
    lines = log.splitlines()
    errors: list[LatexIssue] = []
    for index, text in enumerate(lines):
        if len(errors) >= limit:
            break
        found = _FILE_LINE.match(text)
        bang = None if found else _BANG.match(text)
        if not found and not bang:
            continue
        message = (found or bang).group("msg").strip()
        if message.startswith("==> Fatal error") or message == "Emergency stop.":
            continue
        file = _clean_file(found.group("file")) if found else None
        line = int(found.group("line")) if found else None
        context = ""
        for follow in lines[index + 1: index + 12]:
            stop = _FILE_LINE.match(follow)
            if stop and not file:  # "./report.tex:40: Emergency stop." names the place
                file, line = _clean_file(stop.group("file")), line or int(stop.group("line"))
            source = _SOURCE_LINE.match(follow)
            if source:
                context = f"l.{source.group('line')} {source.group('src')}".rstrip()
                line = line or int(source.group("line"))
                break
        if index > 1 and lines[index - 2].startswith("Runaway argument"):
            message += " (runaway argument: a closing brace is probably missing)"
            context = context or lines[index - 1][:200]
        missing = _MISSING_FILE.search(message)
        kind = "missing_file" if missing else "error"
        errors.append(LatexIssue(kind, message, file=file, line=line, context=context))
    warnings: list[LatexIssue] = []
    seen: set[tuple[str, str]] = set()
    for match in _UNDEF.finditer(log):
        key = (match.group("what"), match.group("key"))
        if key in seen or len(warnings) >= limit:
            continue
        seen.add(key)
        kind = "undefined_citation" if key[0] == "Citation" else "undefined_reference"
        warnings.append(LatexIssue(kind, f"{key[0].lower()} '{key[1]}' is undefined", line=int(match.group("line"))))
    return errors, warnings


_RUNAWAY_OF = re.compile(r"use of (?P<cmd>\\[A-Za-z@]+)")


def locate_runaway(issue: LatexIssue, source: str) -> int | None:
    """The source line where an unclosed argument starts (TeX reports only where the file ended)."""
    command = _RUNAWAY_OF.search(issue.message)
    if not command:
        return None
    argument = issue.context.lstrip("{")
    first_word = re.split(r"[\\\s{}]", argument, maxsplit=1)[0] if argument else ""
    needle = command.group("cmd") + "{" + first_word
    for number, text in enumerate(source.splitlines(), start=1):
        start = text.find(needle)
        if start >= 0 and text[start:].count("{") > text[start:].count("}"):
            return number
    return None


_BLG_ERROR = re.compile(r"^(?P<msg>.*?)---line (?P<line>\d+) of file (?P<file>\S+)")
_BLG_MISSING = re.compile(r'Warning--I didn\'t find a database entry for "(?P<key>[^"]+)"')


def parse_blg(blg: str, warnings: list[LatexIssue], limit: int = 10) -> list[LatexIssue]:
    """BibTeX's errors (with .bib file and line); missing entries are added to `warnings`."""
    errors: list[LatexIssue] = []
    for text in blg.splitlines():
        found = _BLG_ERROR.match(text)
        if found and len(errors) < limit:
            errors.append(LatexIssue("bibtex", found.group("msg").strip() or "BibTeX error",
                                     file=found.group("file"), line=int(found.group("line"))))
        missing = _BLG_MISSING.search(text)
        if missing and not any(w.kind == "undefined_citation" and f"'{missing.group('key')}'" in w.message for w in warnings):
            warnings.append(LatexIssue("undefined_citation", f"citation '{missing.group('key')}' has no entry in the .bib file"))
    return errors
