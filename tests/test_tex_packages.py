"""Every file the report templates load comes from a Debian package that scripts/setup.sh installs.

Both scaffolds (pdfLaTeX for English, xelatex + xeCJK for Chinese) are
compiled for real with latexmk's recorder on; each file TeX read (classes,
packages, .def/.cfg/.fd files, metrics, Type 1 fonts and encodings), each font
embedded in the PDF (xelatex loads OpenType fonts outside the recorder) and
each CJK font the scaffold sets by name is traced to its package with
`dpkg -S`. The package must be in setup.sh's list or depend from it (read
from dpkg's own records), so a fresh machine set up by setup.sh compiles the
same reports this one does. Files TeX generates at install time (formats,
ls-R, font maps under /var/lib/texmf, the merged texmf.cnf) belong to no
package and are skipped.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from labcoat.report.scaffold import render_scaffold, write_report_dir
from labcoat.report.toolchain import CJK_PACKAGES, PDF_PACKAGES, cjk_font_files

SETUP = Path(__file__).resolve().parents[1] / "scripts" / "setup.sh"
# update-texmf (tex-common) writes /etc/texmf/web2c/texmf.cnf from texmf.d at install time.
GENERATED = ("/var/lib/texmf/", "/var/cache/", "/etc/texmf/web2c/texmf.cnf")
BIB = "@article{smith2020, title={A Title}, author={Smith, Ada}, year={2020}, journal={J. Tests}}\n"

pytestmark = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("dpkg-query", "dpkg", "kpsewhich", "latexmk", "pdffonts")),
    reason="needs a Debian-family system with dpkg, TeX Live (kpsewhich, latexmk) and poppler-utils (pdffonts)")


def setup_packages() -> list[str]:
    """APT_PACKAGES and CJK_PACKAGES as setup.sh declares them (CJK is installed unless --no-cjk)."""
    text = SETUP.read_text(encoding="utf-8")
    names: list[str] = []
    for array in ("APT_PACKAGES", "CJK_PACKAGES"):
        body = re.search(rf"^{array}=\(([^)]*)\)", text, re.MULTILINE)
        assert body, f"{array}=(...) not found in {SETUP}"
        names += body.group(1).split()
    return names


def installed_closure(roots: list[str]) -> set[str]:
    """`roots` and everything they depend on, by dpkg's records of the installed packages."""
    rows = subprocess.run(["dpkg-query", "-W", "-f", "${Package}\t${Status}\t${Depends}, ${Pre-Depends}\t${Provides}\n"],
                          capture_output=True, text=True, check=True, timeout=60).stdout.splitlines()
    depends: dict[str, list[str]] = {}
    providers: dict[str, list[str]] = {}
    for row in rows:
        package, status, deps, provides = row.split("\t")
        if not status.endswith(" installed"):
            continue
        # "a (>= 1) | b, c:any" -> every alternative that is installed counts
        depends[package] = [re.split(r"[\s:(]", alt.strip())[0] for dep in deps.split(",") for alt in dep.split("|")
                            if alt.strip()]
        for virtual in provides.split(","):
            if virtual.strip():
                providers.setdefault(re.split(r"[\s(]", virtual.strip())[0], []).append(package)
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        for package in [name, *providers.get(name, [])]:
            if package in depends and package not in seen:
                seen.add(package)
                todo.extend(depends[package])
    return seen


def owners(paths: list[str]) -> dict[str, str | None]:
    """path -> the package dpkg says installed it (None when no package did)."""
    found: dict[str, str | None] = {p: None for p in paths}
    done = subprocess.run(["dpkg", "-S", *paths], capture_output=True, text=True, timeout=120, check=False)
    for line in done.stdout.splitlines():
        package, _, path = line.partition(": ")
        if path in found:
            found[path] = package.split(",")[0].split(":")[0].strip()
    return found


def compile_scaffold(folder: Path, language: str, engine: str) -> tuple[set[str], Path]:
    """The absolute paths TeX read, and the PDF, for the scaffold of `language`."""
    tex = render_scaffold("Scaled features", language=language,
                          sections={"introduction": "Scaling matters \\citep{smith2020}; see \\cref{tab:metrics}.",
                                    "methods": "We use $\\mathbb{R}^d$ and \\emph{emphasis} and \\textbf{bold}."})
    write_report_dir(folder, tex, BIB, metrics=[{"name": "accuracy", "value": 0.9649, "split": "dev"}],
                     language=language)
    done = subprocess.run(["latexmk", "-norc", engine, "-recorder", "-interaction=nonstopmode", "-halt-on-error",
                           "report.tex"], cwd=folder, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, (folder / "report.log").read_text(errors="replace")[-3000:]
    read = set()
    for line in (folder / "report.fls").read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("INPUT /"):
            read.add(line.removeprefix("INPUT ").strip())
    return {p for p in read if not p.startswith(str(folder)) and not p.startswith(GENERATED)}, folder / "report.pdf"


def embedded_font_files(pdf: Path) -> set[str]:
    """Files of the OpenType fonts embedded in `pdf` (subset prefix and encoding suffix dropped)."""
    listing = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True, timeout=60).stdout
    files = set()
    for line in listing.splitlines()[2:]:
        name = line.split()[0].split("+", 1)[-1].removesuffix("-Identity-H")
        for candidate in (f"{name}.otf", f"{name.lower()}.otf"):
            found = subprocess.run(["kpsewhich", candidate], capture_output=True, text=True, timeout=30).stdout.strip()
            if found:
                files.add(found)
                break
    return files


def test_the_toolchain_check_installs_what_setup_installs() -> None:
    assert set(PDF_PACKAGES + CJK_PACKAGES) <= set(setup_packages())


@pytest.mark.parametrize("language, engine", [("English", "-pdf"), ("中文", "-xelatex")])
def test_every_file_the_report_loads_comes_from_setups_packages(tmp_path: Path, language: str, engine: str) -> None:
    if engine == "-xelatex" and not shutil.which("xelatex"):
        pytest.skip("xelatex is not installed (scripts/setup.sh --no-cjk leaves it out)")
    read, pdf = compile_scaffold(tmp_path / "doc", language, engine)
    if engine == "-xelatex":
        read |= embedded_font_files(pdf)
        fonts = cjk_font_files(render_scaffold("t", language=language))
        located = subprocess.run(["kpsewhich", *fonts], capture_output=True, text=True, timeout=30).stdout.split()
        assert len(located) == len(fonts), f"the scaffold's CJK fonts {fonts} are not all installed: {located}"
        read |= set(located)
    assert any(p.endswith(("article.cls")) for p in read) and len(read) > 40, sorted(read)
    allowed = installed_closure(setup_packages())
    unowned, foreign = [], []
    for path, package in owners(sorted(read)).items():
        if package is None:
            unowned.append(path)
        elif package not in allowed:
            foreign.append(f"{path} (package {package})")
    assert not unowned, f"files the {language} report loads that no Debian package provides: {unowned}"
    assert not foreign, (f"files the {language} report loads from packages scripts/setup.sh does not install "
                         f"(add them to APT_PACKAGES): {foreign}")
