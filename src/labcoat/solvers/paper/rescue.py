"""A compiling paper when the model's LaTeX never compiles.

Small models write prose with bare `%`, `&`, `_` and stray commands; if no
version of the paper compiles by the end of the edit loop, labcoat takes the
drafted sections and sets their text as plain text: every special character
escaped, citations of citable papers and the paper's own `\\input` lines kept.
Nothing is added or reworded, so the integrity check still judges the
model's own words; the report says that this happened.
"""

from __future__ import annotations

import re

from labcoat.report.lines import section_span, set_section
from labcoat.report.scaffold import SECTION_KEYS

CITE = re.compile(r"\\cite[pt]?\{([^{}]*)\}")
KEEP_LINE = re.compile(r"^\s*(\\input\{[^{}]*\}\s*|%.*)$")  # the paper's \input lines, whole-line comments
SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
            "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def escape(text: str) -> str:
    return "".join(SPECIALS.get(ch, ch) for ch in text)


def plain(body: str, citable: set[str]) -> str:
    """`body` as plain text: specials escaped; citations of citable keys and \\input lines kept."""
    out_lines = []
    for line in body.split("\n"):
        if KEEP_LINE.match(line):
            out_lines.append(line)
            continue
        pieces, last = [], 0
        for match in CITE.finditer(line):
            pieces.append(escape(line[last:match.start()]))
            keys = [k.strip() for k in match.group(1).split(",") if k.strip() in citable]
            pieces.append(f"\\citep{{{','.join(keys)}}}" if keys else "")
            last = match.end()
        pieces.append(escape(line[last:]))
        out_lines.append("".join(pieces))
    return "\n".join(out_lines)


def rescue(tex: str, citable: set[str]) -> str:
    """The paper with every section's body set as plain text."""
    for key in SECTION_KEYS:
        first, last = section_span(tex, key)
        body = "\n".join(tex.split("\n")[first - 1:last]) if last >= first else ""
        tex = set_section(tex, key, plain(body, citable))
    return tex
