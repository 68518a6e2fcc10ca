"""The dashboard's plots carry the run's numbers: the same as its tables and as `labcoat cost`."""

from __future__ import annotations

import json
import re
from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from labcoat.cli import build_app
from labcoat.store import RunStore
from labcoat.web import create_app
from labcoat.web.charts import MAX_VERTICES, nice_ticks, thin
from tests.test_web_support import PHASES, finished_run, journal, sized_run

PLOT = re.compile(r'<figure class="plot" id="plot-(\w+)".*?</figure>', re.S)


def plots_of(html: str) -> dict[str, str]:
    return {m.group(1): m.group(0) for m in PLOT.finditer(html)}


def lines_of(svg: str) -> dict[str, int]:
    return {name: int(n) for n, name in re.findall(r'data-points="(\d+)" data-name="([^"]+)"', svg)}


def cost_json(root: Path, name: str) -> dict:
    result = CliRunner().invoke(build_app(), ["cost", name, "--runs", str(root), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_spend_and_tokens_plots_agree_with_the_tables_and_labcoat_cost(tmp_path: Path) -> None:
    finished_run(tmp_path, "done", turns=14, nodes=12, every_kind=True)
    with RunStore(tmp_path / "done") as store:  # a growing prompt in the experiments, and a third role
        for call in range(5):
            store.put_ledger(f"running_experiments#0/mle/s{call}c0/reward", phase="running_experiments",
                             role="reviewer", model="claude-3-5-haiku", input_tokens=2000 + 500 * call,
                             output_tokens=80, dollars=0.5)
    cost = cost_json(tmp_path, "done")
    c = TestClient(create_app(tmp_path), base_url="http://127.0.0.1")
    html = c.get("/runs/done/costs").text
    plots = plots_of(html)
    assert set(plots) == {"spend", "tokens"}
    spend = lines_of(plots["spend"])
    assert spend["total"] == cost["total"]["calls"] == 19
    assert {role: spend[role] for role in cost["role"]} == {r: t["calls"] for r, t in cost["role"].items()}
    total = f"${cost['total']['dollars']:,.2f}"
    assert f"total {total} in 19 calls" in plots["spend"] and f"<strong>{total}</strong>" in html
    assert "budget $5.00, 50.6% used" in plots["spend"] and 'class="ref budget"' in plots["spend"]
    tokens = lines_of(plots["tokens"])
    assert tokens == {phase: t["calls"] for phase, t in cost["phase"].items()}
    assert tokens["running_experiments"] == 7
    assert "running experiments: 7 calls, 2,486 input tokens on average" in plots["tokens"]
    # the overview shows the same spend line
    assert lines_of(plots_of(c.get("/runs/done").text)["spend"]) == spend


def test_search_plots_mark_every_node_and_link_to_it(tmp_path: Path) -> None:
    finished_run(tmp_path, "done", turns=7, nodes=12, every_kind=True)
    nodes = journal(12)
    ok = [n for n in nodes if n["status"] == "ok"]
    c = TestClient(create_app(tmp_path), base_url="http://127.0.0.1")
    html = c.get("/runs/done/experiments").text
    plots = plots_of(html)
    search, reward = plots["search"], plots["reward"]
    assert search.count('class="pt ok"') == len(ok) and search.count('class="pt failed"') == len(nodes) - len(ok)
    assert len(re.findall(r'<a href="/runs/done/experiments/nodes/s\d+c\d"><(circle|path) class="pt', search)) \
        == len(nodes)
    best = max(n["metric"] for n in ok)
    assert f"best so far (higher is better): {best:.4g}" in search and lines_of(search)["best so far"] == len(ok)
    # the table's best dev metric is the plot's best
    assert re.search(r"<td>accuracy</td><td>dev</td><td>0\.9556</td>", html)
    assert reward.count('class="pt ok"') == len([n for n in ok if n["reward"] is not None])
    for node in ok[:3]:
        assert f"{node['id']}: accuracy {node['metric']:.4g}, reward {node['reward']:.2f}" in reward
    # the plot alone, as the live page refetches it
    alone = c.get("/runs/done/plots/search")
    assert alone.status_code == 200 and alone.text.count('class="pt ') == len(nodes)
    assert c.get("/runs/done/plots/nope").status_code == 404


def test_live_search_plot_reads_the_node_events_until_the_journal_lands(tmp_path: Path) -> None:
    run_dir = finished_run(tmp_path, "live", turns=7, nodes=0, every_kind=True)
    with RunStore(run_dir) as store:
        pos = store.db.execute("SELECT MAX(pos) FROM events").fetchone()[0] + 1
        for i, (status, metric) in enumerate([("ok", 0.7), ("failed", None), ("refused", None), ("ok", 0.9)]):
            store.put_event(pos + i, "running_experiments", "mle_node", {
                "id": f"s{i // 2}c{i % 2}", "parent": None, "operation": "edit", "status": status,
                "metric": metric, "refusal": "literal metric" if status == "refused" else ""})
    c = TestClient(create_app(tmp_path), base_url="http://127.0.0.1")
    search = c.get("/runs/live/plots/search").text
    assert search.count('class="pt ok"') == 2 and search.count('class="pt failed"') == 1 \
        and search.count('class="pt refused"') == 1
    assert 'href="/runs/live/experiments#node-s1c1"' in search  # no node page before the journal lands
    assert "0 rewarded nodes (rewards appear when the phase ends)" in c.get("/runs/live/plots/reward").text


def test_plots_stay_bounded_for_a_long_run(tmp_path: Path) -> None:
    sized_run(tmp_path, "long", events=2000, nodes=40)
    with RunStore(tmp_path / "long") as store:
        calls = len(store.ledger())
    c = TestClient(create_app(tmp_path), base_url="http://127.0.0.1")
    spend = plots_of(c.get("/runs/long").text)["spend"]
    assert lines_of(spend)["total"] == calls > 900
    path = re.search(r'<path class="line total" d="([^"]+)"', spend).group(1)
    assert path.count("L") + 1 <= 2 * MAX_VERTICES  # a staircase of the thinned points


def test_ticks_and_thinning():
    assert nice_ticks(0.8, 0.96) == [0.8, 0.85, 0.9, 0.95, 1.0]
    assert nice_ticks(1, 2, integer=True) == [1, 2]
    assert nice_ticks(0, 0) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    points = [(i, i) for i in range(1000)]
    kept = thin(points, 10)
    assert len(kept) == 10 and kept[0] == (0, 0) and kept[-1] == (999, 999)


def test_empty_run_has_nothing_to_plot(tmp_path: Path) -> None:
    finished_run(tmp_path, "bare", turns=0, nodes=0, report=False)
    html = TestClient(create_app(tmp_path), base_url="http://127.0.0.1").get("/runs/bare/costs").text
    assert html.count("Nothing to plot yet.") == 2 and PHASES


def test_what_the_plots_show_is_what_the_tables_show(tmp_path: Path) -> None:
    finished_run(tmp_path, "done", turns=14, nodes=30, every_kind=True)
    c = TestClient(create_app(tmp_path), base_url="http://127.0.0.1")
    html = c.get("/runs/done/experiments").text
    search = plots_of(html)["search"]
    tree = dict(re.findall(r'<code class="node-id">(\w+)</code>.*?metric <strong>([\d.]+)</strong>', html))
    marks = dict(re.findall(r"<title>(\w+): accuracy ([\d.]+)</title>", search))
    assert marks == tree and len(marks) == search.count('class="pt ok"') > 20
    statuses = re.findall(r'<code class="node-id">(\w+)</code> <span class="op">\w+</span> <span class="status">(\w+)',
                          html)
    assert sorted(re.findall(r"<title>(\w+): failed</title>", search)) == sorted(i for i, s in statuses if s == "failed")
    assert f"{max(map(float, tree.values())):.4g}" in re.search(r"best so far \(higher is better\): ([\d.]+)",
                                                                  search).group(1)
    overview = c.get("/runs/done").text
    spend = plots_of(overview)["spend"]
    spent = re.search(r'spent <strong>([^<]+)</strong>', overview).group(1)
    assert f"total {spent} in" in spend
    # the phase table's LLM calls are the tokens plot's points per phase
    calls = dict(re.findall(r'<a href="/runs/done/phases/(\w+)">[^<]*</a></td>\s*<td>\d+</td>\s*<td>[^<]*</td>\s*'
                            r'<td>[^<]*</td>\s*<td>(\d+)</td>', overview))
    tokens = lines_of(plots_of(c.get("/runs/done/costs").text)["tokens"])
    assert {p: int(n) for p, n in calls.items()} == tokens and len(tokens) == len(PHASES)


def test_search_plot_of_a_loss_with_a_diverged_node_and_an_odd_id(tmp_path: Path) -> None:
    run_dir = finished_run(tmp_path, "loss", turns=0, nodes=0, report=False)
    with RunStore(run_dir) as store:
        store.put_artefact("plan_formulation", "Plan", {"question": "q", "metrics": [
            {"name": "log_loss", "higher_is_better": False}]}, phase="plan_formulation")
        for i, (node_id, status, metric) in enumerate([("s0c0", "ok", 0.9), ("s1c0", "ok", 0.5),
                                                       ("s2c0", "ok", float("inf")), ('s3"<b>x', "ok", 0.7)]):
            store.put_event(100 + i, "running_experiments", "mle_node", {
                "id": node_id, "parent": None, "operation": "edit", "status": status, "metric": metric})
    search = TestClient(create_app(tmp_path), base_url="http://127.0.0.1").get("/runs/loss/plots/search").text
    assert "best so far (lower is better): 0.5" in search
    assert search.count('class="pt ok"') == 3 and "s2c0: ok, no dev log_loss" in search
    assert "<b>x" not in search and 'href="/runs/loss/experiments#node-s3%22%3Cb%3Ex"' in search
