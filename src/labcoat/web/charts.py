"""Small SVG charts drawn on the server: lines, marks, a reference line, ticks.

The dashboard's plots are SVG written by the page template from a `Chart`
laid out here, so they need no script to show, print or link (a mark can be
a link), and the numbers they draw are the ones the tables beside them show.
Lines are thinned to `MAX_VERTICES` so a page costs the same for a long run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

MAX_VERTICES = 160
WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 12, 38

Fmt = Callable[[float], str]


@dataclass
class Mark:
    x: float
    y: float
    title: str
    href: str | None = None
    cls: str = "ok"       # ok, failed, refused, best
    shape: str = "dot"    # dot or cross


@dataclass
class LineSeries:
    name: str
    points: Sequence[tuple[float, float]]
    cls: str = "s0"
    step: bool = False  # drawn as a staircase (a best-so-far or a running total)
    count: int | None = None  # data points behind `points` when the caller thinned them already


@dataclass
class RefLine:
    y: float
    label: str
    cls: str = "budget"


@dataclass
class DrawnLine:
    name: str
    cls: str
    d: str
    points: int  # data points behind the line (before thinning)


@dataclass
class DrawnMark:
    cx: float
    cy: float
    title: str
    href: str | None
    cls: str
    shape: str


@dataclass
class Chart:
    name: str
    x_label: str
    y_label: str
    width: int = WIDTH
    height: int = HEIGHT
    lines: list[DrawnLine] = field(default_factory=list)
    marks: list[DrawnMark] = field(default_factory=list)
    refs: list[tuple[float, str, str]] = field(default_factory=list)  # (y px, label, class)
    x_ticks: list[tuple[float, str]] = field(default_factory=list)
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    empty: bool = True

    @property
    def plot_left(self) -> int:
        return LEFT

    @property
    def plot_bottom(self) -> int:
        return self.height - BOTTOM

    @property
    def plot_right(self) -> int:
        return self.width - RIGHT


def nice_ticks(lo: float, hi: float, count: int = 5, integer: bool = False) -> list[float]:
    """Round tick values covering [lo, hi] (steps of 1, 2 or 5 times a power of ten; whole steps if `integer`)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / max(1, count)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    if integer:
        step = max(1.0, round(step))
    first = math.floor(lo / step) * step
    ticks, value = [], first
    while value <= hi + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    if ticks[-1] < hi:
        ticks.append(round(value, 12))
    return ticks


def thin(points: Sequence[tuple[float, float]], cap: int = MAX_VERTICES) -> list[tuple[float, float]]:
    """At most `cap` points, evenly spread, keeping the first and the last."""
    if len(points) <= cap:
        return list(points)
    n = len(points)
    return [points[round(i * (n - 1) / (cap - 1))] for i in range(cap)]


def _staircase(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for x, y in points:
        if out:
            out.append((x, out[-1][1]))
        out.append((x, y))
    return out


def layout(name: str, *, lines: Sequence[LineSeries] = (), marks: Sequence[Mark] = (),
           refs: Sequence[RefLine] = (), x_label: str = "", y_label: str = "",
           x_fmt: Fmt = lambda v: f"{v:g}", y_fmt: Fmt = lambda v: f"{v:.3g}",
           y_from_zero: bool = False, x_integer: bool = False, width: int = WIDTH, height: int = HEIGHT) -> Chart:
    """Scale the data into the plot area and draw the lines, marks, reference lines and ticks."""
    chart = Chart(name, x_label, y_label, width, height)
    xs = [x for s in lines for x, _ in s.points] + [m.x for m in marks]
    ys = [y for s in lines for _, y in s.points] + [m.y for m in marks] + [r.y for r in refs]
    if not xs:
        return chart
    chart.empty = False
    y_lo, y_hi = (0.0 if y_from_zero else min(ys)), max(ys)
    if y_hi <= y_lo:
        pad = abs(y_hi) * 0.05 or 1.0
        y_lo, y_hi = y_lo - (0 if y_from_zero else pad), y_hi + pad
    y_ticks = nice_ticks(y_lo, y_hi)
    x_ticks = nice_ticks(min(xs), max(xs), integer=x_integer)
    x0, x1, y0, y1 = x_ticks[0], x_ticks[-1], y_ticks[0], y_ticks[-1]
    span_x, span_y = (x1 - x0) or 1.0, (y1 - y0) or 1.0

    sx, sy = (width - LEFT - RIGHT) / span_x, (height - TOP - BOTTOM) / span_y

    def px(x: float) -> float:
        return round(LEFT + (x - x0) * sx, 1)

    def py(y: float) -> float:
        return round(height - BOTTOM - (y - y0) * sy, 1)

    for s in lines:
        vertices = _staircase(thin(s.points)) if s.step else thin(s.points)
        if vertices:
            d = "M" + " L".join(f"{LEFT + (x - x0) * sx:.1f},{height - BOTTOM - (y - y0) * sy:.1f}"
                                for x, y in vertices)
            chart.lines.append(DrawnLine(s.name, s.cls, d, len(s.points) if s.count is None else s.count))
    chart.marks = [DrawnMark(px(m.x), py(m.y), m.title, m.href, m.cls, m.shape) for m in marks]
    chart.refs = [(py(r.y), r.label, r.cls) for r in refs]
    chart.x_ticks = [(px(v), x_fmt(v)) for v in x_ticks]
    chart.y_ticks = [(py(v), y_fmt(v)) for v in y_ticks]
    return chart
