"""The shipped seed programs run in the real sandbox and follow the data contract;
`choose_seed` matches plans; `labcoat show --phase running_experiments` draws the journal."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest

from labcoat.artefacts import DatasetSpec, MetricSpec, Plan
from labcoat.config.loading import config_from_mapping
from labcoat.config.schema import SandboxConfig
from labcoat.run.runner import create_run
from labcoat.executor.recorded import matplotlib_cache, spec_from_config
from labcoat.sandbox.run import run_program
from labcoat.journal import Journal, Node
from labcoat.solvers.mle.seeds import Seed, choose_seed, fitting_seeds, load_seeds
from labcoat.store import open_store

REPO = Path(__file__).resolve().parents[1]
SEEDS = {s.file: s for s in load_seeds()}


# the default limits: below ~4 GB of address space torch cannot even map its libraries
SANDBOX = SandboxConfig(timeout_s=300)


@pytest.fixture(scope="module")
def font_cache(tmp_path_factory) -> dict[str, str]:
    """Matplotlib's font list, built once in the sandbox, as runs get it (labcoat.executor.recorded)."""
    owner = SimpleNamespace(run_dir=tmp_path_factory.mktemp("fonts"), config=SimpleNamespace(sandbox=SANDBOX))
    return matplotlib_cache(owner, None)


def run_seed(workdir: Path, seed: Seed, split: str | None, fonts: dict[str, str]):
    env = {"LABCOAT_EVAL_SPLIT": split} if split else {}
    spec = spec_from_config(SANDBOX, workdir, code=seed.code, env=env)
    spec.copy_in.update(fonts)
    return run_program(spec)


def check_seed_runs(tmp_path: Path, seed: Seed, fonts: dict[str, str]) -> None:
    with ThreadPoolExecutor(2) as pool:
        dev, test = pool.map(lambda split: run_seed(tmp_path / (split or "dev"), seed, split, fonts),
                             [None, "test"])
    for result in (dev, test):
        assert result.exit_code == 0, result.stderr[-2000:]
        assert result.sandbox == "bwrap"
        assert not result.metrics_errors, result.metrics_errors
        assert result.figures and all(f.endswith(".png") for f in result.figures)
        written = json.loads((Path(result.workdir) / "metrics.json").read_text())
        assert written == result.metrics
        primary = [m for m in result.metrics if m["name"] == seed.metric and m["split"] == "dev"]
        assert len(primary) == 1 and isinstance(primary[0]["value"], float)
        assert all({"name", "value", "split", "higher_is_better"} <= set(m) for m in result.metrics)
    # dev runs never touch the test split; the final (test) run adds its test metrics
    assert not [m for m in dev.metrics if m["split"] == "test"]
    tested = [m for m in test.metrics if m["split"] == "test"]
    assert [m for m in tested if m["name"] == seed.metric]
    assert [m for m in test.metrics if m["split"] != "test"] == dev.metrics  # same dev results, seeded


def test_classification_seed_runs_and_tests_only_when_asked(tmp_path, font_cache):
    check_seed_runs(tmp_path, SEEDS["sklearn_classification.py"], font_cache)


def test_regression_seed_runs_and_tests_only_when_asked(tmp_path, font_cache):
    check_seed_runs(tmp_path, SEEDS["sklearn_regression.py"], font_cache)
    seed = SEEDS["sklearn_regression.py"]
    rmse = json.loads((tmp_path / "dev" / "metrics.json").read_text())
    assert all(m["higher_is_better"] is False for m in rmse if m["name"].endswith(seed.metric))


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")
def test_torch_seed_runs_and_tests_only_when_asked(tmp_path, font_cache):
    check_seed_runs(tmp_path, SEEDS["torch_mlp.py"], font_cache)


def plan(question: str, metric: str = "accuracy", **extra) -> Plan:
    return Plan(question=question, metrics=[MetricSpec(name=metric, higher_is_better=metric != "rmse")], **extra)


def test_choose_seed_follows_the_plan():
    classify = plan("Does feature scaling change which classifier wins?", datasets=[DatasetSpec(name="wine")])
    regress = plan("How well can we predict disease progression by regression?", metric="rmse",
                   datasets=[DatasetSpec(name="diabetes")])
    prompting = plan("Does chain-of-thought prompting help a language model on math word problems?")
    assert [s.file for s in fitting_seeds(classify)] == ["sklearn_classification.py"]
    assert choose_seed(regress, 1).file == "sklearn_regression.py"
    assert choose_seed(prompting, 1).file == "llm_eval.py"
    # nothing fits: the solver generates the first program from the plan
    assert choose_seed(plan("How long does Dijkstra's algorithm take on sparse road graphs?", "runtime"), 1) is None


def test_choose_seed_offers_only_seeds_whose_modules_import():
    here = Seed("a.py", "classification", ("classif",), ("json",), "accuracy")
    missing = Seed("b.py", "classification", ("classif", "tabular"), ("no_such_module_for_labcoat",), "accuracy")
    tabular = plan("Which tabular classifier is best?")
    assert missing.fit("which tabular classifier is best? accuracy") > here.fit("which tabular classifier")
    assert [choose_seed(tabular, draw, [here, missing]).file for draw in range(8)] == ["a.py"] * 8
    assert choose_seed(tabular, 0, [missing]) is None
    # among equally good fits, the recorded draw decides, reproducibly
    twin = Seed("c.py", "classification", ("classif",), ("json",), "accuracy")
    picks = {draw: choose_seed(tabular, draw, [here, twin]).file for draw in range(16)}
    assert set(picks.values()) == {"a.py", "c.py"}
    assert picks == {draw: choose_seed(tabular, draw, [here, twin]).file for draw in range(16)}


def test_show_prints_the_journal_as_a_tree(tmp_path):
    config = config_from_mapping({"topic": "Which classifier?"}, source="test", env={})
    run_dir = create_run(config, tmp_path / "run")
    journal = Journal()
    journal.add(Node(id="s0c0", step=0, candidate=0, operation="generate", code="", status="ok", metric=0.63,
                     reward=0.6, reflection="A majority baseline; any model should beat it."))
    journal.add(Node(id="s1c0", step=1, candidate=0, operation="edit", code="", parent="s0c0", status="ok",
                     metric=0.9737, reward=0.8))
    journal.add(Node(id="s1c1", step=1, candidate=1, operation="edit", code="", parent="s0c0", status="failed"))
    journal.add(Node(id="s1c1r1", step=1, candidate=1, operation="repair", code="", parent="s0c0",
                     repair_of="s1c1", status="refused", refusal="the metric accuracy=0.97 is written as a literal"))
    with open_store(run_dir) as store:
        store.put_artefact("running_experiments", "results", {"journal": journal.to_json()},
                           phase="running_experiments")
    shown = subprocess.run([sys.executable, "-m", "labcoat", "show", str(run_dir), "--phase", "running_experiments"],
                           capture_output=True, text=True, timeout=60, cwd=REPO,
                           env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"})
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    row = {name: next(i for i, line in enumerate(lines) if name + " " in line) for name in
           ("s0c0", "s1c0", "s1c1", "s1c1r1")}
    indent = {name: len(lines[i]) - len(lines[i].lstrip(" │├└─")) for name, i in row.items()}
    assert "mle-solver journal" in shown.stdout
    assert "generate ok  metric 0.63  reward 0.60" in lines[row["s0c0"]]
    assert "edit ok  metric 0.9737" in lines[row["s1c0"]] and "edit failed" in lines[row["s1c1"]]
    assert "repair refused" in lines[row["s1c1r1"]] and "written as a literal" in lines[row["s1c1r1"]]
    assert "majority baseline" in shown.stdout
    # children sit under their parent, a repair under the attempt it repairs
    assert indent["s0c0"] < indent["s1c0"] == indent["s1c1"] < indent["s1c1r1"]
    assert row["s0c0"] < row["s1c0"] < row["s1c1"] < row["s1c1r1"]
