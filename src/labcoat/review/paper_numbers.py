"""The numbers a LaTeX paper states, with their place, and what they may match.

Text that is not a claim is blanked first (same length, so offsets and line
numbers survive): comments, the preamble, reference/label/citation/graphics
commands and their options, environment arguments, lengths, cross-reference
phrases ("Table 2", "Section 3.1"), ISO dates and arXiv identifiers.
A number glued to letters is a name (ResNet50, 3rd, 2D), except for the
units and multipliers a result is stated in (1.5x, 3.2×, 3.2h, 12GB, 50k);
a bare % counts as a percent sign (in LaTeX it starts a comment, blanked first).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_BLANKED = [
    re.compile(r"(?<!\\)%[^\n]*"),
    re.compile(r"\\(?:ref|cref|Cref|autoref|eqref|pageref|label|cite[A-Za-z]*|nocite|input|include|includegraphics|url"
               r"|bibliography|bibliographystyle|usepackage|documentclass|vspace|hspace|setlength|graphicspath"
               r"|hypersetup|definecolor|color|textcolor|cline|arraystretch|scalebox|thanks)\*?"
               r"(?:\[[^\]]*\])*(?:\{[^{}]*\})?"),
    re.compile(r"\\(?:multicolumn|multirow|resizebox)\{[^}]*\}\{[^}]*\}"),
    re.compile(r"\\cmidrule(?:\([^)]*\))?\{[^}]*\}"),
    re.compile(r"\\href\{[^}]*\}"),
    re.compile(r"\\(?:begin|end)\{[^}]*\}(?:\[[^\]]*\])?(?:\{[^}]*\})?"),
    re.compile(r"-?\d*\.?\d+\s*(?:pt|mm|cm|in|em|ex|bp|pc)\b"),
    re.compile(r"\d*\.?\d+\s*\\(?:linewidth|textwidth|columnwidth|hsize|textheight)"),
    re.compile(r"(?i)\b(?:tables?|tab\.|figures?|figs?\.|sections?|sec\.|eqs?\.|equations?|algorithms?|alg\.|appendix"
               r"|lines?|chapters?|theorems?|lemmas?|propositions?|corollary|definitions?|steps?|phases?|stages?"
               r"|hypothes[ie]s|rounds?|version|v)[~\s]*\(?\d+(?:\.\d+)*(?:\s*(?:and|to|--?|,)\s*\d+(?:\.\d+)*)*"),
    re.compile(r"_\{[^{}]*\}|(?<!10)\^\{[^{}]*\}"),  # indices and exponents (EC_{50}, x^{2}); 10^{-3} stays
    re.compile(r"\b\d{4}-\d{2}-\d{2}\b"),
    re.compile(r"(?i)arxiv[:\s~]*\d{4}\.\d{4,5}(?:v\d+)?"),
]

_SCI_TIMES = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s*\\times\s*10\^\{?\s*(-?\d+)\s*\}?")
_SCI_POWER = re.compile(r"(?<![\w.])10\^\{?\s*(-?\d+)\s*\}?")
_SCI_E = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)[eE]([-+]?\d+)(?!\w|\.\d)")
_NUMBER = re.compile(
    r"(?<![\w.:/\\^_])(?<![A-Za-z]-)(?P<sign>-)?(?P<num>\d{1,3}(?:(?:,|\{,\}|\\,)\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    r"(?P<suffix>[kKM](?![A-Za-z]))?(?P<unit>(?:x|ms|s|min|h|GB|MB|KB|GiB|MiB|TB|GHz|B)(?![A-Za-z]))?"
    r"(?P<times>\s*\$?\s*(?:\\times|×)(?!\s*10\^))?"
    r"(?P<percent>\s*(?:\\%|%|\s*percent\b))?(?![A-Za-z0-9_])"
)
_CODE_NUMBER = re.compile(r"(?<![\w.])\d[\d_]*(?:\.\d+)?(?:[eE][-+]?\d+)?")


@dataclass(frozen=True)
class Stated:
    """A number as the paper states it."""

    text: str
    value: float
    tolerance: float
    percent: bool
    integer: bool
    start: int
    times: bool = False  # "3.2x", "3.2×": a ratio

    @property
    def magnitude(self) -> float:
        return abs(self.value)


def blank_non_claims(tex: str) -> str:
    """`tex` with every non-claim span replaced by spaces (newlines kept)."""
    begin = tex.find(r"\begin{document}")
    if begin > 0:
        tex = re.sub(r"[^\n]", " ", tex[:begin]) + tex[begin:]
    for pattern in _BLANKED:
        tex = pattern.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), tex)
    return tex


def _places(digits: str) -> int:
    return len(digits.split(".")[1]) if "." in digits else 0


def stated_numbers(text: str) -> list[Stated]:
    """Every number in already-blanked text, in order."""
    found: list[Stated] = []
    taken = [False] * len(text)

    def claim(start: int, end: int) -> bool:
        if any(taken[start:end]):
            return False
        taken[start:end] = [True] * (end - start)
        return True

    for match in _SCI_TIMES.finditer(text):
        if claim(match.start(), match.end()):
            mantissa, exponent = match.group(1), int(match.group(2))
            found.append(Stated(match.group(0), float(mantissa) * 10 ** exponent,
                                0.5 * 10 ** (exponent - _places(mantissa)), False, False, match.start()))
    for pattern, mantissa_group in ((_SCI_E, 1), (_SCI_POWER, None)):
        for match in pattern.finditer(text):
            if not claim(match.start(), match.end()):
                continue
            mantissa = match.group(mantissa_group) if mantissa_group else "1"
            exponent = int(match.group(2 if mantissa_group else 1))
            found.append(Stated(match.group(0), float(mantissa) * 10 ** exponent,
                                0.5 * 10 ** (exponent - _places(mantissa)), False, False, match.start()))
    for match in _NUMBER.finditer(text):
        if not claim(match.start(), match.end()):
            continue
        digits = re.sub(r"\{,\}|\\,|,", "", match.group("num"))
        scale = {"k": 1e3, "K": 1e3, "M": 1e6}.get(match.group("suffix") or "", 1.0)
        value = float(digits) * scale * (-1 if match.group("sign") else 1)
        found.append(Stated(match.group(0).strip(), value, 0.5 * 10 ** (-_places(digits)) * scale + 1e-12,
                            bool(match.group("percent")), "." not in digits, match.start(),
                            times=bool(match.group("times")) or match.group("unit") == "x"))
    return sorted(found, key=lambda s: s.start)


def code_numbers(code_texts: list[str]) -> list[float]:
    """Numeric literals of the recorded programs (hyper-parameters, sizes, seeds)."""
    values: list[float] = []
    for code in code_texts:
        for match in _CODE_NUMBER.finditer(code):
            try:
                values.append(float(match.group(0).replace("_", "")))
            except ValueError:
                continue
    return values


def number_matches(stated: Stated, candidate: float, *, scaled: bool = True) -> bool:
    """Does `candidate` (a recorded value) round to what the paper states? With `scaled`, also as a
    fraction shown in percent (0.972 as "97.2" or "97.2%") or a percentage shown as a fraction (97.2 as
    "0.972"). A whole number is never read as a percentage: it is a count, a size, a seed or a setting,
    and 341 training examples do not make "3.4", nor a literal 42 in the code "0.42"."""
    tolerance = stated.tolerance + 1e-9 * max(1.0, abs(candidate))
    value = abs(candidate)
    forms = [value]
    if scaled and value <= 1.0:
        forms.append(value * 100.0)
    if scaled and not stated.percent and value <= 100.0 and value != int(value):
        forms.append(value / 100.0)
    return any(abs(form - stated.magnitude) <= tolerance for form in forms)
