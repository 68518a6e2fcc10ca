"""The paper as numbered lines, and the edits a model makes to it.

An edit is refused, with the reason and the line, when the result would
not be a well-formed document: unbalanced braces or environments, or a
missing `\\documentclass` / `\\begin{document}` / `\\end{document}`.
Checking this before latexmk saves a compile and gives a better line number.
"""

from __future__ import annotations

import re

from labcoat.report.scaffold import SECTION_KEYS


class EditError(ValueError):
    """An edit the paper cannot take; the message says why and where."""


def numbered(tex: str, start: int = 1, end: int | None = None) -> str:
    """Lines `start`..`end` (1-based, inclusive) prefixed with their numbers."""
    lines = tex.split("\n")
    end = len(lines) if end is None else min(end, len(lines))
    width = len(str(end))
    return "\n".join(f"{number:>{width}}| {lines[number - 1]}" for number in range(max(start, 1), end + 1))


PACKAGE = re.compile(r"\\(?:usepackage|RequirePackage)(?:\[[^\]]*\])?\{([^}]*)\}")


def body_view(tex: str) -> tuple[str, str]:
    """(what the preamble holds in one line, the numbered lines from \\begin{document} on).

    A writer edits the body; the preamble is the scaffold's and costs a few hundred
    tokens on every edit prompt, so it is summarised (class and packages) instead.
    Its lines keep their numbers, and an edit may still name them.
    """
    lines = tex.split("\n")
    begin = _document_start(lines)
    if begin is None or begin == 0:
        return "", numbered(tex)
    preamble = "\n".join(_strip_comment(line) for line in lines[:begin])
    cls = re.search(r"\\documentclass(?:\[[^\]]*\])?\{([^}]*)\}", preamble)
    packages = [name.strip() for group in PACKAGE.findall(preamble) for name in group.split(",") if name.strip()]
    title = re.search(r"\\title\{(.*)\}", preamble)
    summary = (f"lines 1-{begin}, the preamble, are not shown: {cls.group(1) if cls else 'no'} class; packages "
               f"{', '.join(dict.fromkeys(packages)) or 'none'}"
               + (f"; title line {preamble[:title.start()].count(chr(10)) + 1}: {title.group(1)}" if title else ""))
    return summary, numbered(tex, begin + 1)


def with_preamble(current: str, new_tex: str) -> str:
    """A `replace` that starts at \\begin{document} keeps the current preamble; a whole document stands as is."""
    if r"\documentclass" in new_tex:
        return new_tex
    lines = current.split("\n")
    begin = _document_start(lines)
    return new_tex if begin is None else "\n".join(lines[:begin]) + "\n" + new_tex.lstrip("\n")


def _document_start(lines: list[str]) -> int | None:
    """The index of the line holding \\begin{document} (outside a comment), or None."""
    return next((i for i, line in enumerate(lines) if r"\begin{document}" in _strip_comment(line)), None)


def _strip_comment(line: str) -> str:
    match = re.search(r"(?<!\\)%", line)
    return line[:match.start()] if match else line


def document_problems(tex: str) -> list[str]:
    """What makes `tex` ill-formed, each with its line; [] when none."""
    problems: list[str] = []
    for required in (r"\documentclass", r"\begin{document}", r"\end{document}"):
        if required not in tex:
            problems.append(f"the paper has no {required}")
    braces: list[int] = []
    envs: list[tuple[str, int]] = []
    verbatim = False
    for number, raw in enumerate(tex.split("\n"), start=1):
        line = _strip_comment(raw) if not verbatim else raw
        for match in re.finditer(r"\\(begin|end)\{([^}]*)\}|\\\\|\\[{}]|[{}]", line):
            token = match.group(0)
            if match.group(1) == "begin":
                envs.append((match.group(2), number))
                verbatim = verbatim or match.group(2) in ("verbatim", "lstlisting")
            elif match.group(1) == "end":
                name = match.group(2)
                verbatim = verbatim and name not in ("verbatim", "lstlisting")
                if not envs:
                    problems.append(f"line {number}: \\end{{{name}}} has no matching \\begin")
                elif envs[-1][0] != name:
                    problems.append(f"line {number}: \\end{{{name}}} closes \\begin{{{envs[-1][0]}}} of line {envs[-1][1]}")
                    envs.pop()
                else:
                    envs.pop()
            elif verbatim or len(token) == 2:
                continue
            elif token == "{":
                braces.append(number)
            elif braces:
                braces.pop()
            else:
                problems.append(f"line {number}: '}}' closes nothing (an extra closing brace)")
    for line in braces[:3]:
        problems.append(f"line {line}: '{{' is never closed (a closing brace is missing)")
    for name, line in envs[:3]:
        problems.append(f"line {line}: \\begin{{{name}}} is never ended")
    return problems


def _check(tex: str, what: str) -> str:
    problems = document_problems(tex)
    if problems:
        raise EditError(f"{what} refused: " + "; ".join(problems[:5]))
    return tex


def edit_lines(tex: str, start: int, end: int, new_lines: list[str] | str) -> str:
    """Replace lines `start`..`end` (1-based, inclusive) by `new_lines`.

    `end = start - 1` inserts before `start`; an empty `new_lines` deletes.
    """
    lines = tex.split("\n")
    if not 1 <= start <= len(lines) + 1:
        raise EditError(f"edit start {start} is outside the paper (lines 1 to {len(lines)})")
    if not start - 1 <= end <= len(lines):
        raise EditError(f"edit end {end} must be between {start - 1} (insert) and {len(lines)}")
    if isinstance(new_lines, str):
        new_lines = new_lines.split("\n") if new_lines else []
    return _check("\n".join([*lines[:start - 1], *new_lines, *lines[end:]]), f"edit of lines {start}-{end}")


def replace_document(new_tex: str) -> str:
    """A whole new paper, accepted only if well-formed."""
    if not new_tex.strip():
        raise EditError("replace refused: the new paper is empty")
    return _check(new_tex, "replace")


def section_span(tex: str, key: str) -> tuple[int, int]:
    """(first, last) 1-based lines of a scaffold section's body; last = first - 1 when empty."""
    if key not in SECTION_KEYS:
        raise KeyError(f"unknown section {key!r}; known: {list(SECTION_KEYS)}")
    lines = tex.split("\n")
    if key == "abstract":
        opening = next((i for i, line in enumerate(lines) if r"\begin{abstract}" in line), None)
        closing = next((i for i, line in enumerate(lines) if r"\end{abstract}" in line), None)
        if opening is None or closing is None:
            raise KeyError("the paper has no abstract environment")
        return opening + 2, closing
    marker = f"\\label{{sec:{key}}}"
    heading = next((i for i, line in enumerate(lines) if marker in line), None)
    if heading is None:
        raise KeyError(f"the paper has no section labelled sec:{key}")
    first = heading + 1
    while first < len(lines) and re.fullmatch(r"\s*\\input\{[^}]*\}\s*", lines[first]):
        first += 1  # generated tables and figures stay
    last = first
    while last < len(lines) and not re.match(r"\s*\\(section\*?\{|InputIfFileExists|bibliographystyle|bibliography\{|end\{document\})",
                                                  lines[last]):
        last += 1
    return first + 1, last


def set_section(tex: str, key: str, body: str) -> str:
    """The paper with section `key`'s body replaced by `body`."""
    first, last = section_span(tex, key)
    return edit_lines(tex, first, last, body.rstrip("\n").split("\n") + [""])
