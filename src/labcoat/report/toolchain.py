"""Can this machine typeset a run's report? Asked once when a run starts, and by `labcoat doctor`.

The answer comes from the scaffold itself: the programs its engine needs, every
class, package and bibliography style it loads (found by kpsewhich), and for
CJK text the fonts it sets. What is missing comes with the command that
installs it, so a run says so before it starts instead of asking a model to
fix a missing system package.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field

from labcoat.report.scaffold import needs_cjk, render_scaffold, tex_requirements
from labcoat.tools.latex import ENGINE_BINARIES

# The Debian/Ubuntu packages behind the templates (scripts/setup.sh installs them); elsewhere: tlmgr install NAME.
PDF_PACKAGES = ("latexmk", "texlive-latex-base", "texlive-latex-recommended", "texlive-latex-extra",
                "texlive-fonts-recommended", "texlive-science", "lmodern")
CJK_PACKAGES = ("texlive-xetex", "texlive-lang-chinese")

_FONT_FILES = re.compile(r"\\setCJK\w+font\{(?P<name>[^}]+)\}\[Extension=(?P<ext>\.\w+),(?P<opts>[^\]]*)\]")
_FONT_FALLBACK = re.compile(r"\\setCJKmainfont\{(?P<name>[^}]+)\}(?!\[)")


def install_command(cjk: bool) -> str:
    return "sudo apt-get install " + " ".join(PDF_PACKAGES + (CJK_PACKAGES if cjk else ()))


@dataclass(frozen=True)
class Toolchain:
    """What typesetting a report in one language needs here, and what of it is missing."""

    engine: str  # latexmk's engine: "pdf" or "xelatex"
    missing: tuple[str, ...] = ()
    fix: str = ""
    needs: tuple[str, ...] = ()  # the TeX files and fonts checked
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.missing

    @property
    def reason(self) -> str:
        """Why the report cannot be compiled, with the install command; "" when it can."""
        if self.ok:
            return ""
        return f"{', '.join(self.missing)} not found (install: {self.fix}, or run scripts/setup.sh)"


def cjk_font_files(tex: str) -> list[str]:
    """The font files the CJK scaffold sets by name (Fandol), e.g. FandolSong-Bold.otf."""
    files: list[str] = []
    for match in _FONT_FILES.finditer(tex):
        for option in match.group("opts").split(","):
            _, _, value = option.partition("=")
            name = value.strip().replace("*", match.group("name"))
            if name and name + match.group("ext") not in files:
                files.append(name + match.group("ext"))
    return files


def kpse_found(names: list[str]) -> set[str]:
    """Which of `names` kpsewhich resolves (it prints one path per file it finds, nothing for the rest)."""
    if not names:
        return set()
    done = subprocess.run(["kpsewhich", *names], capture_output=True, text=True, timeout=60, check=False)
    return {os.path.basename(line.strip()) for line in done.stdout.splitlines() if line.strip()}


def _font_family_installed(family: str) -> bool:
    if shutil.which("fc-list") is None:
        return False
    done = subprocess.run(["fc-list", family, "family"], capture_output=True, text=True, timeout=60, check=False)
    return bool(done.stdout.strip())


def report_toolchain(language: str = "English") -> Toolchain:
    """Whether a report in `language` compiles here; never raises for a missing tool."""
    cjk = needs_cjk(language)
    engine = "xelatex" if cjk else "pdf"
    fix = install_command(cjk)
    programs = [p for p in ("latexmk", ENGINE_BINARIES[engine], "kpsewhich") if shutil.which(p) is None]
    if programs:
        return Toolchain(engine, tuple(programs), fix)
    files = tex_requirements(language)
    fonts = cjk_font_files(render_scaffold("t", language=language)) if cjk else []
    found = kpse_found([*files, *fonts])
    missing = [name for name in files if name not in found]
    notes: list[str] = []
    absent_fonts = [name for name in fonts if name not in found]
    if absent_fonts:
        fallbacks = _FONT_FALLBACK.findall(render_scaffold("t", language=language))
        present = next((family for family in fallbacks if _font_family_installed(family)), None)
        if present is None:
            missing += absent_fonts
        else:
            notes.append(f"CJK text set in {present} ({', '.join(absent_fonts)} not found)")
    return Toolchain(engine, tuple(missing), fix, needs=(*files, *fonts), notes=tuple(notes))
