"""A readable Markdown rendering of a LaTeX paper, for when it cannot be compiled.

Rough by design: sections, emphasis, lists, tables, figures and citations
(as [key]) come through; math is kept as written, between $ signs; unknown
commands give up their text argument.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

_COMMENT = re.compile(r"(?<!\\)%.*$", re.MULTILINE)
_MATH_ENVS = ("equation", "equation*", "align", "align*", "gather", "gather*", "multline", "multline*", "eqnarray", "displaymath")
_MAX_INPUT_DEPTH = 4
# Layout commands whose argument is not text.
_DROPPED = "vspace|hspace|bibliographystyle|graphicspath|thispagestyle|pagestyle|setcounter|addtocounter|newlength|nocite"


def inline_inputs(tex: str, base_dir: Path, depth: int = 0) -> str:
    """Replace `\\input{name}` by the file's text (within `base_dir` only)."""
    base = base_dir.resolve()

    def include(match: re.Match) -> str:
        name = match.group(1).strip()
        path = (base / name).resolve()
        if path.suffix != ".tex":
            path = path.with_name(path.name + ".tex")
        if depth >= _MAX_INPUT_DEPTH or base not in path.parents or not path.is_file():
            return match.group(0)
        return inline_inputs(path.read_text(encoding="utf-8", errors="replace"), base, depth + 1)

    return re.sub(r"\\(?:input|include)\{([^}]*)\}", include, tex)


def _brace_pairs(text: str) -> dict[int, int]:
    """Offset of each unescaped '{' -> offset of its matching '}' (unclosed ones absent)."""
    pairs: dict[int, int] = {}
    stack: list[int] = []
    for match in re.finditer(r"\\.|[{}]", text, flags=re.DOTALL):
        token = match.group(0)
        if token == "{":
            stack.append(match.start())
        elif token == "}" and stack:
            pairs[stack.pop()] = match.start()
    return pairs


def _group(text: str, start: int, pairs: dict[int, int] | None = None) -> tuple[str, int] | None:
    """The balanced {...} starting at `start` (after spaces): (content, index after it)."""
    index = start
    while index < len(text) and text[index] in " \t":
        index += 1
    if index >= len(text) or text[index] != "{":
        return None
    end = (pairs if pairs is not None else _brace_pairs(text)).get(index)
    return (text[index + 1:end], end + 1) if end is not None else None


def _optional(text: str, start: int) -> tuple[str, int]:
    if start < len(text) and text[start] == "[":
        end = text.find("]", start)
        if end > 0:
            return text[start + 1:end], end + 1
    return "", start


def replace_command(text: str, names: str, render: Callable[[list[str], str], str], nargs: int = 1) -> str:
    """Rewrite every `\\name[opt]{a}{b}` (names separated by |) with render(args, opt)."""
    pattern = re.compile(r"\\(?:" + names + r")\*?(?![A-Za-z])")
    out: list[str] = []
    position = 0
    pairs = _brace_pairs(text)
    for _ in range(len(text)):  # bounded: each pass consumes one command
        match = pattern.search(text, position)
        if not match:
            break
        option, index = _optional(text, match.end())
        args: list[str] = []
        for _arg in range(nargs):
            group = _group(text, index, pairs)
            if group is None:
                break
            args.append(group[0])
            index = group[1]
        if len(args) < nargs:
            out.append(text[position:match.end()])
            position = match.end()
            continue
        out.append(text[position:match.start()])
        out.append(render(args, option))
        position = index
    out.append(text[position:])
    return "".join(out)


def _protect_math(text: str, store: list[str]) -> str:
    def keep(display: bool) -> Callable[[re.Match], str]:
        def save(match: re.Match) -> str:
            body = match.group(1).strip()
            store.append(f"\n\n$$\n{body}\n$$\n\n" if display else f"${body}$")
            return f"\x00{len(store) - 1}\x00"
        return save

    envs = "|".join(re.escape(env) for env in _MATH_ENVS)
    text = re.sub(r"\\begin\{(?:" + envs + r")\}(.*?)\\end\{(?:" + envs + r")\}", keep(True), text, flags=re.DOTALL)
    text = re.sub(r"\$\$(.+?)\$\$", keep(True), text, flags=re.DOTALL)
    text = re.sub(r"\\\[(.+?)\\\]", keep(True), text, flags=re.DOTALL)
    return re.sub(r"(?<!\\)\$(.+?)(?<!\\)\$", keep(False), text, flags=re.DOTALL)


def _table(body: str) -> str:
    body = re.sub(r"\\(?:toprule|midrule|bottomrule|hline|cmidrule(?:\([^)]*\))?(?:\{[^}]*\})?|cline\{[^}]*\})", "", body)
    body = replace_command(body, "multicolumn|multirow", lambda a, o: a[2], nargs=3)
    rows = [row.strip() for row in re.split(r"\\\\(?:\[[^\]]*\])?", body) if row.strip()]
    cells = [[cell.strip() for cell in re.split(r"(?<!\\)&", row)] for row in rows]
    if not cells:
        return ""
    width = max(len(row) for row in cells)
    lines = []
    for number, row in enumerate(cells):
        row = row + [""] * (width - len(row))
        lines.append("| " + " | ".join(row) + " |")
        if number == 0:
            lines.append("|" + "---|" * width)
    return "\n\n" + "\n".join(lines) + "\n\n"


def _lists(text: str) -> str:
    out: list[str] = []
    stack: list[str] = []
    for line in text.split("\n"):
        stripped = line.strip()
        opened = re.match(r"\\begin\{(itemize|enumerate|description)\}", stripped)
        if opened:
            stack.append(opened.group(1))
            continue
        if re.match(r"\\end\{(itemize|enumerate|description)\}", stripped):
            if stack:
                stack.pop()
            out.append("")
            continue
        if stack and stripped.startswith(r"\item"):
            rest = stripped[len(r"\item"):].lstrip()
            label, index = _optional(rest, 0)
            rest = rest[index:]
            bullet = "1." if stack[-1] == "enumerate" else "-"
            prefix = f"**{label}** " if label else ""
            out.append("  " * (len(stack) - 1) + f"{bullet} {prefix}{rest.strip()}")
            continue
        out.append(("  " * len(stack) + stripped) if stack and stripped else line)
    return "\n".join(out)


_INLINE = [
    ("section", lambda a, o: f"\n\n## {a[0]}\n\n"),
    ("subsection", lambda a, o: f"\n\n### {a[0]}\n\n"),
    ("subsubsection", lambda a, o: f"\n\n#### {a[0]}\n\n"),
    ("paragraph", lambda a, o: f"\n\n**{a[0]}** "),
    ("textbf", lambda a, o: f"**{a[0]}**"),
    ("emph|textit", lambda a, o: f"*{a[0]}*"),
    ("texttt", lambda a, o: f"`{a[0]}`"),
    ("cite|citep|citet|citealp|citealt|citeauthor|citeyear|parencite|textcite",
     lambda a, o: "[" + "; ".join(k.strip() for k in a[0].split(",")) + "]"),
    ("ref|cref|Cref|autoref|eqref|pageref", lambda a, o: f"`{a[0]}`"),
    ("label", lambda a, o: ""),
    ("url", lambda a, o: f"<{a[0]}>"),
    ("footnote", lambda a, o: f" ({a[0]})"),
    ("caption", lambda a, o: f"\n\n*{a[0]}*\n\n"),
    ("includegraphics", lambda a, o: f"\n\n![{a[0]}]({a[0]})\n\n"),
]


def render_markdown(tex: str, base_dir: Path | None = None) -> str:
    """Markdown of a LaTeX paper; `\\input` files are inlined from `base_dir` when given."""
    if base_dir is not None:
        tex = inline_inputs(tex, Path(base_dir))
    tex = _COMMENT.sub("", tex)
    head, _, body = tex.partition(r"\begin{document}")
    body = body or head
    body = body.split(r"\end{document}")[0]
    math: list[str] = []
    body = _protect_math(body, math)
    title = _group(head, head.find(r"\title") + 6) if r"\title" in head else None
    author = _group(head, head.find(r"\author") + 7) if r"\author" in head else None
    heading = ""
    if title:
        heading = f"# {title[0].strip()}\n\n" + (f"*{author[0].strip()}*\n\n" if author and author[0].strip() else "")
    body = body.replace(r"\maketitle", "")
    body = re.sub(r"\{\\bf\s+([^{}]*)\}", r"**\1**", body)
    body = re.sub(r"\{\\(?:it|em)\s+([^{}]*)\}", r"*\1*", body)
    body = re.sub(r"\\begin\{abstract\}", "\n\n## Abstract\n\n", body).replace(r"\end{abstract}", "\n")
    body = re.sub(r"\\begin\{tabular\}\{[^}]*\}(.*?)\\end\{tabular\}", lambda m: _table(m.group(1)), body, flags=re.DOTALL)
    body = replace_command(body, "href", lambda a, o: f"[{a[1]}]({a[0]})", nargs=2)
    for names, render in _INLINE:
        body = replace_command(body, names, render)
    body = re.sub(r"\\bibliography\{[^}]*\}", "\n\n## References\n\n(see references.bib)\n", body)
    body = _lists(body) if r"\item" in body else body
    body = replace_command(body, _DROPPED, lambda a, o: "")
    body = re.sub(r"\\(?:begin|end)\{[^}]*\}(?:\[[^\]]*\])?(?:\{[^}]*\})?", "\n", body)
    body = body.replace("``", '"').replace("''", '"').replace("~", " ")
    body = re.sub(r"\\\\(?:\[[^\]]*\])?", "  \n", body)
    body = re.sub(r"\\([%&_#$\{\}])", r"\1", body)
    for _ in range(3):  # unknown commands give up their argument, innermost first
        body = replace_command(body, r"[A-Za-z]+", lambda a, o: a[0])
    body = re.sub(r"\\[A-Za-z]+\*?(?:\[[^\]]*\])?", "", body)
    body = re.sub(r"\x00(\d+)\x00", lambda m: math[int(m.group(1))], body)
    body = re.sub(r"[ \t]+\n", "\n", body)
    body = re.sub(r"\n{3,}", "\n\n", body)
    return (heading + body.strip() + "\n").lstrip()


def write_markdown_fallback(tex_dir: Path, reason: str, main: str = "report.tex", *, note: str = "") -> Path:
    """Write `report.md` beside the .tex, opening with why there is no PDF (`note`, in the report's
    language, when the caller gives it)."""
    tex_dir = Path(tex_dir)
    tex = (tex_dir / main).read_text(encoding="utf-8", errors="replace")
    note = "> " + (note or f"This report was not compiled to PDF: {reason}. The LaTeX source is {main}; "
                   "this is a rough rendering of it.") + "\n\n"
    path = tex_dir / (Path(main).stem + ".md")
    path.write_text(note + render_markdown(tex, base_dir=tex_dir), encoding="utf-8")
    return path
