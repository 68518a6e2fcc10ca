"""The typed mle-solver journal: its views, and older run stores (plain-dict journals) still read."""

from __future__ import annotations

from pathlib import Path

from labcoat.artefacts import Results
from labcoat.journal import Journal, Node
from labcoat.review.run_records import recorded_numbers
from labcoat.solvers.mle.guards import unmeasured
from labcoat.store import RunStore
from labcoat.store.transcript import journal_tree
from labcoat.web import journal_view


def _journal() -> Journal:
    j = Journal()
    j.add(Node(id="s0c0", step=0, operation="seed", status="ok", metric=0.6))
    j.add(Node(id="s1c0", step=1, operation="edit", parent="s0c0", status="failed"))
    j.add(Node(id="s1c0r1", step=1, operation="repair", parent="s0c0", repair_of="s1c0", status="failed"))
    j.add(Node(id="s1c0r2", step=1, operation="repair", parent="s0c0", repair_of="s1c0r1", status="ok", metric=0.7))
    j.add(Node(id="s1c1", step=1, candidate=1, operation="replace", parent="s0c0", status="refused",
               refusal="no metrics were written"))
    j.best_id = "s1c0r2"
    return j


def test_views_of_the_journal() -> None:
    j = _journal()
    assert j.best().id == "s1c0r2"
    assert [n.id for n in j.good()] == ["s0c0", "s1c0r2"]
    assert [n.id for n in j.failed()] == ["s1c0", "s1c0r1", "s1c1"]
    assert [n.id for n in j.children("s0c0")] == ["s1c0", "s1c1"]  # repairs hang under what they repair
    assert {step: [n.id for n in nodes] for step, nodes in j.by_step().items()} == {
        0: ["s0c0"], 1: ["s1c0", "s1c0r1", "s1c0r2", "s1c1"]}
    assert [j.repair_depth(i) for i in ("s0c0", "s1c0", "s1c0r1", "s1c0r2")] == [0, 0, 1, 2]
    assert [(n.id, d) for n, d in j.tree()] == [("s0c0", 0), ("s1c0", 1), ("s1c0r1", 2), ("s1c0r2", 3),
                                                ("s1c1", 1)]


def test_a_cycle_of_anchors_neither_loops_nor_loses_nodes() -> None:
    j = Journal.of([{"id": "a", "repair_of": "b"}, {"id": "b", "repair_of": "a"}, {"id": "c"}])
    assert sorted(n.id for n, _ in j.tree()) == ["a", "b", "c"]
    assert j.repair_depth("a") == 2


def test_the_typed_journal_round_trips_through_the_artefact() -> None:
    results = Results(journal=_journal().nodes, best="s1c0r2")
    again = Results.model_validate(results.model_dump(mode="json"))
    assert again.journal == results.journal and again.nodes().best().metric == 0.7


OLD_RESULTS = {  # a running_experiments artefact as older versions wrote it
    "best_code": "print(1)",
    "metrics": [{"name": "accuracy", "value": 0.91, "split": "dev", "higher_is_better": True, "source": "s1c0"}],
    "journal": [
        {"id": "s0c0", "step": 0, "candidate": 0, "operation": "seed", "code": "a", "parent": None, "repair_of": None,
         "status": "ok", "metrics": [{"name": "accuracy", "value": 0.88, "split": "dev"}], "metric": 0.88,
         "stdout": "accuracy 0.88\n", "retired_field": "kept by an older version"},
        {"id": "s1c0", "step": 1, "candidate": 0, "operation": "edit", "code": "b", "parent": "s0c0",
         "status": "ok", "metrics": [{"name": "accuracy", "value": 0.91, "split": "dev"}], "metric": 0.91,
         "stdout": "epochs 12\n"},
        {"id": "s1c1", "step": 1, "candidate": 1, "operation": "edit", "code": "c", "parent": "s0c0",
         "status": "failed", "stderr": "Traceback", "metrics": [{"name": "accuracy", "value": 0.99}]},
    ],
}


def test_an_older_stores_journal_reads_in_every_view(tmp_path: Path) -> None:
    with RunStore(tmp_path) as store:
        store.put_artefact("running_experiments", "results", OLD_RESULTS, phase="running_experiments")
    results = Results.model_validate(OLD_RESULTS)
    assert results.nodes().best().id == "s1c0"  # named by the reported metric's source
    records = recorded_numbers(results, None)
    sources = [r["source"] for r in records]
    assert "node s0c0: accuracy" in sources and "node s1c0 output" in sources
    assert not any("s1c1" in s for s in sources)  # a failed program's numbers are no record
    with RunStore(tmp_path, readonly=True) as store:
        nodes, source = journal_view.tree_nodes(store)
        assert source == "artefact" and [(t.id, t.depth) for t in nodes] == [("s0c0", 0), ("s1c0", 1), ("s1c1", 1)]
        assert journal_view.node_view(store, "s1c1")["node"].stderr == "Traceback"
        assert "s1c1" in str(journal_tree(store).children[0].children[1].label)


def test_a_metric_without_a_value_fails_its_candidate() -> None:
    assert unmeasured([{"name": "acc", "value": 0.5}]) is None
    problem = unmeasured([{"name": "acc", "value": 0.5}, {"name": "f1"}, {"name": "auc", "value": "n/a"}])
    assert problem is not None and problem.startswith("metric f1, auc has no numeric value")
    assert unmeasured([{"name": "flag", "value": True}]) is not None
