"""The report scaffold: a NeurIPS-like article with the sections a paper needs.

Title, author and section bodies are filled from a template file; the metrics
table and the figures are generated from recorded results into their own
files (`metrics_table.tex`, `figures.tex`) that the scaffold `\\input`s, so the
model edits prose and never retypes a recorded number.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePath

from labcoat.report.tables import figures_tex, latex_escape, metrics_table, safe_figure_name
from labcoat.report.wording import wording_for
from labcoat.templating import environment
from labcoat.untrusted import UntrustedFileError, copy_file

TEMPLATES = Path(__file__).parent / "templates"
MAX_FIGURE_BYTES = 50 * 1024 * 1024

# (key, English heading) in paper order; the abstract is its own environment. The
# scaffold prints each heading in the run's language (`report.wording`).
SECTIONS: tuple[tuple[str, str], ...] = (
    ("introduction", "Introduction"),
    ("background", "Background"),
    ("related_work", "Related Work"),
    ("methods", "Methods"),
    ("experimental_setup", "Experimental Setup"),
    ("results", "Results"),
    ("discussion", "Discussion"),
)
SECTION_KEYS: tuple[str, ...] = ("abstract", *(key for key, _ in SECTIONS))

CJK_LANGUAGES = {"chinese", "japanese", "korean", "中文", "简体中文", "繁體中文", "日本語", "한국어"}


def needs_cjk(language: str) -> bool:
    name = language.strip().lower()
    return name in CJK_LANGUAGES or any(word in name for word in ("chinese", "japanese", "korean", "mandarin", "cantonese"))


def render_scaffold(title: str, author: str = "labcoat", *, sections: dict[str, str] | None = None,
                    language: str = "English") -> str:
    """The full `report.tex` text; sections not given get a comment saying what goes there."""
    given = dict(sections or {})
    unknown = sorted(set(given) - set(SECTION_KEYS))
    if unknown:
        raise ValueError(f"unknown report sections {unknown}; known: {list(SECTION_KEYS)}")
    bodies = {key: given.get(key) or f"% Draft the {key.replace('_', ' ')} here." for key in SECTION_KEYS}
    name = "report_cjk.tex.j2" if needs_cjk(language) else "report.tex.j2"
    words = wording_for(language)
    headings = [(key, latex_escape(words.group("sections")[key])) for key, _ in SECTIONS]
    # LaTeX's own names (Abstract, References, Table 1, ...) follow the language too.
    names = None if words.code == "en" else {k: latex_escape(v) for k, v in words.group("latex").items()}
    return environment(TEMPLATES, latex=True).get_template(name).render(
        title=latex_escape(title), author=latex_escape(author), sections=bodies, headings=headings, names=names,
    )


_TEX_FILES = re.compile(r"\\(documentclass|usepackage|bibliographystyle)(?:\[[^\]]*\])?\{([^}]*)\}")
_SUFFIX = {"documentclass": ".cls", "usepackage": ".sty", "bibliographystyle": ".bst"}
_OPTIONAL = re.compile(r"\\IfFileExists\{[^}]*\}\{\\usepackage(?:\[[^\]]*\])?\{[^}]*\}\}\{\}")


def tex_requirements(language: str = "English") -> list[str]:
    """The TeX files (class, packages, bibliography style) the scaffold for `language` loads.

    Read from the rendered scaffold, so `labcoat doctor` checks exactly what a report needs.
    """
    tex = re.sub(r"(?<!\\)%[^\n]*", "", render_scaffold("t", language=language))  # a commented-out package is not loaded
    tex = _OPTIONAL.sub("", tex)  # loaded only when installed
    found: list[str] = []
    for kind, names in _TEX_FILES.findall(tex):
        for name in (n.strip() for n in names.split(",")):
            if name and name + _SUFFIX[kind] not in found:
                found.append(name + _SUFFIX[kind])
    return found


def unique_name(name: str, taken: set[str]) -> str:
    """`name`, or `stem-2.ext`, `stem-3.ext`, ... when that is taken."""
    path = PurePath(name)
    n = 1
    while name in taken:
        n += 1
        name = f"{path.stem}-{n}{path.suffix}"
    return name


def figure_names(paths: list[str | Path]) -> list[str]:
    """The names the figures at `paths` get in `figures/`, in order (see write_report_dir)."""
    names: list[str] = []
    for path in dict.fromkeys(str(p) for p in paths):
        names.append(unique_name(safe_figure_name(PurePath(path).name), set(names)))
    return names


def availability_tex(run_id: str | None, language: str = "English") -> str:
    """The paper's closing statement of where its programs and data are: true when the paper is compiled,
    before any bundle exists, because it names the command that writes the bundle and the file it writes."""
    if not run_id:
        return ""
    words = wording_for(language)
    return environment(TEMPLATES, latex=True).get_template("availability.tex.j2").render(
        heading=words.text("availability.heading"), text=words.text("availability.text", run_id=latex_escape(run_id)))


def write_report_dir(out_dir: Path, tex: str, bib: str, *, metrics: list | None = None,
                     figures: list[Path] | None = None, main: str = "report.tex", language: str = "English",
                     run_id: str | None = None) -> Path:
    """Lay out a compilable report directory: main tex, bib, generated table, figures, availability.

    Figures are copied into `figures/`; only files that exist are included.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "availability.tex").write_text(availability_tex(run_id, language), encoding="utf-8")
    (out_dir / main).write_text(tex, encoding="utf-8")
    (out_dir / "references.bib").write_text(bib, encoding="utf-8")
    table = metrics_table(metrics or [], words=wording_for(language).group("metrics_table"))
    (out_dir / "metrics_table.tex").write_text(table, encoding="utf-8")
    fig_dir = out_dir / "figures"
    fig_dir.mkdir(exist_ok=True)
    names: list[str] = []
    left_out: list[str] = []
    for fig in dict.fromkeys(Path(f) for f in figures or []):
        # Two programs (the best run and its final test run) often save the same file name:
        # each figure gets its own name, so each is included once under its own label.
        name = unique_name(safe_figure_name(fig.name), set(names))
        try:
            # A program made the figure: a link, a FIFO or a huge file must not reach the report.
            copy_file(fig, fig_dir / name, MAX_FIGURE_BYTES)
        except FileNotFoundError:
            continue
        except UntrustedFileError as exc:
            left_out.append(f"% figure {name} left out: {exc}".replace("\n", " "))
            continue
        names.append(name)
    text = figures_tex(names)
    (out_dir / "figures.tex").write_text("\n".join([*left_out, text]) if left_out else text, encoding="utf-8")
    return out_dir / main
