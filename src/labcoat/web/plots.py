"""The dashboard's plots, read from the run store: spend, tokens per call, the experiment search.

Each function returns a laid-out `charts.Chart` plus the figures a reader
checks it against (the totals the tables show). Spend and tokens come from
the ledger (the rows `labcoat cost` sums); the search comes from the journal,
read through `search_nodes` alone.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from labcoat.store.runstore import RunStore
from labcoat.web import journal_view
from labcoat.web.charts import MAX_VERTICES, Chart, LineSeries, Mark, RefLine, layout

NODE_STEP = re.compile(r"^s(\d+)c")
PALETTE = 8
BUDGET_IN_VIEW = 0.2  # draw the budget line once the spend is this share of it


@dataclass
class Plot:
    chart: Chart
    title: str
    legend: list[tuple[str, str]] = field(default_factory=list)   # (css class, text)
    facts: dict[str, Any] = field(default_factory=dict)           # what the tables beside it also show


def _elapsed(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.3g} s"
    return f"{seconds / 60:.3g} min" if seconds < 7200 else f"{seconds / 3600:.3g} h"


def _dollars(value: float) -> str:
    return f"${value:.3f}" if value < 1 else f"${value:,.2f}"


def money(value: Any) -> str:
    """Dollars as every page writes them (the header, the tables, the legends)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "-"
    return f"${value:,.4f}" if value < 1 else f"${value:,.2f}"


def _spend_buckets(store: RunStore) -> list[tuple[float, str, float, int]]:
    """(time, role, dollars, calls) of the ledger in at most `MAX_VERTICES` time buckets per role.

    SQLite does the grouping, so the page reads a few hundred rows however many calls the run made.
    """
    return store.db.execute(
        "WITH span AS (SELECT MIN(ts) AS t0, (MAX(ts) - MIN(ts)) / :n + 1e-9 AS width FROM ledger) "
        "SELECT MAX(ts), COALESCE(role, '-'), SUM(dollars), COUNT(*) FROM ledger, span "
        "GROUP BY CAST((ts - t0) / width AS INT), COALESCE(role, '-') ORDER BY MAX(ts)",
        {"n": MAX_VERTICES - 1}).fetchall()


def spend(store: RunStore, budget: float | None) -> Plot:
    """Cumulative dollars over the run's time, per role and in total, against the budget line."""
    start = store.info().created_at
    total, calls, running = 0.0, 0, []
    roles: dict[str, list] = {}
    for ts, role, dollars, n in _spend_buckets(store):
        x = max(0.0, ts - start)
        total, calls = total + float(dollars or 0), calls + n
        running.append((x, total))
        mine = roles.setdefault(role, [0.0, 0, []])
        mine[0], mine[1] = mine[0] + float(dollars or 0), mine[1] + n
        mine[2].append((x, mine[0]))
    lines = [LineSeries("total", running, "total", step=True, count=calls)]
    legend = [("total", f"total {money(total)} in {calls} calls")]
    if len(roles) > 1:  # one role's line would repeat the total
        for i, (role, (spent, n, points)) in enumerate(sorted(roles.items(), key=lambda kv: -kv[1][0])):
            cls = f"s{i % PALETTE}"
            lines.append(LineSeries(role, points, cls, step=True, count=n))
            legend.append((cls, f"{role} {money(spent)}"))
    # A budget far above the spend would flatten the lines to the axis: then the legend states it instead.
    refs = [RefLine(budget, f"budget {_dollars(budget)}")] if budget and total >= BUDGET_IN_VIEW * budget else []
    if budget:
        legend.append(("budget", f"budget {money(budget)}, {total / budget:.1%} used"
                       + ("" if refs else " (the line is above this chart)")))
    chart = layout("spend", lines=lines if calls else [], refs=refs if calls else [],
                   x_label="time since the run began", y_label="dollars", x_fmt=_elapsed, y_fmt=_dollars,
                   y_from_zero=True)
    return Plot(chart, "Spend over time", legend, {"total": total, "calls": calls, "budget": budget})


def tokens_per_call(store: RunStore) -> Plot:
    """Input tokens of each LLM call, in order, one line per phase: a growing prompt shows as a rising line."""
    counts = {phase: (n, tokens) for phase, n, tokens in store.db.execute(
        "SELECT COALESCE(phase, '-'), COUNT(*), SUM(input_tokens) FROM ledger GROUP BY 1 ORDER BY MIN(rowid)")}
    stride = max(1, -(-max((n for n, _ in counts.values()), default=0) // MAX_VERTICES))
    series: dict[str, list[tuple[float, float]]] = {phase: [] for phase in counts}
    for phase, n, tokens in store.db.execute(
            "SELECT g, n, t FROM (SELECT COALESCE(phase, '-') AS g, input_tokens AS t, "
            "ROW_NUMBER() OVER (PARTITION BY COALESCE(phase, '-') ORDER BY rowid) AS n FROM ledger) "
            "WHERE (n - 1) % :k = 0 ORDER BY g, n", {"k": stride}):
        series[phase].append((n, float(tokens or 0)))
    lines, legend = [], []
    for i, (phase, (n, tokens)) in enumerate(counts.items()):
        cls = f"s{i % PALETTE}"
        lines.append(LineSeries(phase, series[phase], cls, count=n))
        legend.append((cls, f"{phase.replace('_', ' ')}: {n} calls, {(tokens or 0) / n:,.0f} input tokens on average"))
    chart = layout("tokens", lines=lines, x_label="call number within the phase", y_label="input tokens",
                   x_fmt=lambda v: f"{v:g}", y_fmt=lambda v: f"{v:,.0f}", y_from_zero=True, x_integer=True)
    return Plot(chart, "Input tokens per call, by phase", legend,
                {"calls": {phase: n for phase, (n, _) in counts.items()}})


Tree = tuple[list, str]  # what journal_view.tree_nodes returns: (nodes, source)


def search_nodes(store: RunStore, tree: Tree | None = None) -> tuple[list[dict], str]:
    """The journal's nodes (id, step, status, metric, reward) and where they came from ('artefact' or 'events').

    `tree` is the journal tree when the page has read it already (it is read once per page).
    """
    nodes, source = tree if tree is not None else journal_view.tree_nodes(store)
    flat = []
    for node in (t.node for t in nodes):
        step = node.step
        if not isinstance(step, int):  # a tree drawn from events: the step is in the id (s<step>c<candidate>)
            match = NODE_STEP.match(node.id)
            step = int(match.group(1)) if match else 0
        flat.append({"id": node.id, "step": step, "status": node.status, "metric": node.metric,
                     "reward": node.reward})
    return flat, source


def metric_goal(store: RunStore) -> tuple[str, bool]:
    """The primary metric's name and whether higher is better, as the plan states them."""
    row = store.db.execute("SELECT json_extract(data, '$.metrics[0].name'), "
                           "json_extract(data, '$.metrics[0].higher_is_better') FROM artefacts WHERE name=?",
                           ("plan_formulation",)).fetchone()
    if row is None or row[0] is None:
        return "metric", True
    return str(row[0]), row[1] is None or bool(row[1])


def _node_href(ref: str, node_id: str, source: str) -> str:
    if source == "artefact":
        return f"/runs/{ref}/experiments/nodes/{quote(node_id, safe='')}"
    return f"/runs/{ref}/experiments#node-{quote(node_id, safe='')}"


def _is_number(value: Any) -> bool:
    """A plottable number: a metric of NaN or infinity (a diverged loss) is left out of the plot."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def search(store: RunStore, ref: str, tree: Tree | None = None) -> Plot:
    """Each node's dev metric by step, the best so far, failed and refused nodes marked below."""
    nodes, source = search_nodes(store, tree)
    name, higher = metric_goal(store)
    scored = [n for n in nodes if n.get("status") == "ok" and _is_number(n.get("metric"))]
    scored_ids = {id(n) for n in scored}
    values = [float(n["metric"]) for n in scored]
    # failed and refused nodes sit just under the lowest metric, apart from the scored ones
    floor = min(values, default=0.0) - 0.08 * ((max(values) - min(values)) if len(values) > 1 else 1.0)
    marks, best_line, best = [], [], None
    for n in sorted(nodes, key=lambda n: n["step"]):
        node_id = str(n.get("id"))
        href = _node_href(ref, node_id, source)
        if id(n) in scored_ids:
            value = float(n["metric"])
            marks.append(Mark(n["step"], value, f"{node_id}: {name} {value:.4g}", href, "ok"))
            if best is None or (value > best if higher else value < best):
                best = value
            best_line.append((n["step"], best))
        else:
            status = str(n.get("status") or "?")
            cls = "refused" if status == "refused" else "failed"
            said = f"{status}, no dev {name}" if status == "ok" else status
            marks.append(Mark(n["step"], floor, f"{node_id}: {said}", href, cls, "cross"))
    chart = layout("search", lines=[LineSeries("best so far", best_line, "best", step=True)], marks=marks,
                   x_label="step", y_label=f"dev {name}", x_fmt=lambda v: f"{v:g}", x_integer=True)
    failed = sum(1 for m in marks if m.cls == "failed")
    refused = sum(1 for m in marks if m.cls == "refused")
    legend = [("ok", f"{len(scored)} nodes with a dev {name}"), ("best", f"best so far ({'higher' if higher else 'lower'} is better)"
                                                                 + (f": {best:.4g}" if best is not None else "")),
              ("failed", f"{failed} failed"), ("refused", f"{refused} refused")]
    return Plot(chart, "Experiment search", legend, {"nodes": len(nodes), "scored": len(scored), "best": best,
                                                     "failed": failed, "refused": refused, "source": source})


def reward_vs_metric(store: RunStore, ref: str, tree: Tree | None = None) -> Plot:
    """The reviewer's reward of each scored node against its dev metric."""
    nodes, source = search_nodes(store, tree)
    name, _ = metric_goal(store)
    marks = [Mark(float(n["metric"]), float(n["reward"]), f"{n.get('id')}: {name} {n['metric']:.4g}, "
                  f"reward {n['reward']:.2f}", _node_href(ref, str(n.get("id")), source), "ok")
             for n in nodes if n.get("status") == "ok" and _is_number(n.get("metric")) and _is_number(n.get("reward"))]
    chart = layout("reward", marks=marks, x_label=f"dev {name}", y_label="reward", x_fmt=lambda v: f"{v:.3g}")
    note = "" if marks or source == "artefact" else " (rewards appear when the phase ends)"
    return Plot(chart, "Reward vs metric", [("ok", f"{len(marks)} rewarded nodes{note}")], {"points": len(marks)})
