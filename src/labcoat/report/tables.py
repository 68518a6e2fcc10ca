"""LaTeX generated from recorded results: the booktabs metrics table and figures.

Values are printed with four significant digits, which the integrity check's
rounding tolerance accepts against the recorded value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from pathlib import PurePath
from typing import Any

_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
    "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}


def latex_escape(text: str) -> str:
    """Text as LaTeX prints it literally."""
    return "".join(_SPECIAL.get(ch, ch) for ch in text)


def format_value(value: float) -> str:
    """A recorded value as printed in the paper (math mode when it needs an exponent)."""
    if math.isnan(value) or math.isinf(value):
        return latex_escape(str(value))
    text = f"{value:.4g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        return f"${mantissa} \\times 10^{{{int(exponent)}}}$"
    return text


def _field(metric: Any, name: str, default: Any = "") -> Any:
    if isinstance(metric, dict):
        return metric.get(name, default)
    return getattr(metric, name, default)


def metrics_table(metrics: Iterable[Any], *, words: dict[str, str] | None = None, label: str = "tab:metrics") -> str:
    """A booktabs table of `MetricValue`s (or dicts with name, value, split, higher_is_better).

    `words` are the caption and column heads in the report's language (`report.wording`).
    """
    if words is None:
        from labcoat.report.wording import wording_for

        words = wording_for("English").group("metrics_table")
    w = {k: latex_escape(v) for k, v in words.items()}
    rows = []
    for metric in metrics:
        arrow = r"$\uparrow$" if _field(metric, "higher_is_better", True) else r"$\downarrow$"
        rows.append(f"{latex_escape(str(_field(metric, 'name')))} & {latex_escape(str(_field(metric, 'split', 'dev')))}"
                    f" & {format_value(float(_field(metric, 'value')))} & {arrow} \\\\")
    if not rows:
        rows = [f"\\multicolumn{{4}}{{c}}{{\\emph{{{w['none']}}}}} \\\\"]
    return "\n".join([
        r"\begin{table}[t]",
        r"\centering",
        f"\\caption{{{w['caption']}}}",
        f"\\label{{{label}}}",
        r"\begin{tabular}{llrc}",
        r"\toprule",
        f"{w['metric']} & {w['split']} & {w['value']} & {w['better']} \\\\",
        r"\midrule",
        *rows,
        r"\bottomrule",
        r"\end{tabular}",
        r"\end{table}",
        "",
    ])


def safe_figure_name(name: str) -> str:
    """A file name graphicx reads without trouble: one dot, no spaces or specials."""
    path = PurePath(name)
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", path.stem) or "figure"
    suffix = re.sub(r"[^A-Za-z0-9]", "", path.suffix.lstrip(".")).lower()
    return f"{stem}.{suffix}" if suffix else stem


def figure_label(name: str) -> str:
    return "fig:" + PurePath(safe_figure_name(name)).stem


def figures_tex(names: Iterable[str], captions: dict[str, str] | None = None) -> str:
    """One figure environment per file in `figures/`, labelled `fig:<stem>`."""
    captions = captions or {}
    blocks = []
    for name in names:
        caption = captions.get(name) or latex_escape(PurePath(name).stem.replace("_", " "))
        blocks.append("\n".join([
            r"\begin{figure}[t]",
            r"\centering",
            f"\\includegraphics[width=0.8\\linewidth]{{{name}}}",
            f"\\caption{{{caption}}}",
            f"\\label{{{figure_label(name)}}}",
            r"\end{figure}",
        ]))
    return "\n\n".join(blocks) + ("\n" if blocks else "% no figures were recorded\n")
