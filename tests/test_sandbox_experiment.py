"""A real scikit-learn experiment: metrics.json and a figure come back as artefacts of the run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labcoat.config.schema import ResearchConfig
from labcoat.workflow.context import EventLog, RunContext
from labcoat.executor.recorded import run_in_sandbox
from labcoat.sandbox import ProgramSpec, run_program
from labcoat.sandbox.artefacts import read_metrics
from labcoat.store import Effects, RunStore

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

EXPERIMENT = '''
import json
import matplotlib.pyplot as plt
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

X, y = load_breast_cancer(return_X_y=True)
X_train, X_dev, y_train, y_dev = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
accs = []
for c in (0.01, 0.1, 1.0):
    model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=500)).fit(X_train, y_train)
    accs.append(model.score(X_dev, y_dev))
print("dev accuracies", accs)
json.dump([{"name": "accuracy", "value": max(accs), "split": "dev", "higher_is_better": True}],
          open("metrics.json", "w"))
plt.plot([0.01, 0.1, 1.0], accs, marker="o")
plt.xscale("log")
plt.savefig("dev_accuracy.png")
'''


@pytest.mark.timeout(240)
def test_sklearn_experiment_returns_metrics_and_figure(tmp_path):
    run_dir = tmp_path / "run"
    store = RunStore(run_dir)
    ctx = RunContext(config=ResearchConfig(topic="breast cancer", sandbox={"timeout_s": 180}), store=store,
                     run_id="r", run_dir=run_dir, effects=Effects(store), events=EventLog(store))
    result = run_in_sandbox(ctx, ctx.key("mle", 0, "run"), EXPERIMENT)
    store.close()
    assert result["exit_code"] == 0, result["stderr"]
    [metric] = result["metrics"]
    assert metric["name"] == "accuracy" and metric["split"] == "dev" and 0.9 < metric["value"] <= 1.0
    printed = json.loads(result["stdout"].split("dev accuracies", 1)[1].strip().replace("'", '"'))
    assert metric["value"] == max(printed)
    [figure] = result["figures"]
    png = run_dir / figure
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 1000
    assert figure.startswith("exec/") and figure.endswith("dev_accuracy.png")


def test_malformed_metrics_are_reported_not_raised(tmp_path):
    code = ('import json\njson.dump([{"name": "acc", "value": 0.9, "split": "dev", "higher_is_better": True},'
            ' {"name": "", "value": 1}, {"name": "loss", "value": "low"}, {"name": "f1", "value": 0.5},'
            ' {"name": "nan", "value": float("nan"), "higher_is_better": False}, 3], open("metrics.json", "w"))')
    r = run_program(ProgramSpec(workdir=str(tmp_path / "w"), code=code, timeout_s=30))
    assert r.exit_code == 0
    assert [m["name"] for m in r.metrics] == ["acc", "f1"]
    assert "higher_is_better" not in r.metrics[1]
    joined = "\n".join(r.metrics_errors)
    for needle in ("[1]: 'name'", "[2]: 'value' of 'loss'", "[3]: 'higher_is_better' of 'f1' is missing",
                   "[4]: 'value' of 'nan' is not finite", "[5]: expected an object"):
        assert needle in joined


def test_metrics_file_that_is_not_json(tmp_path):
    (tmp_path / "metrics.json").write_text("accuracy: 0.9")
    metrics, errors = read_metrics(Path(tmp_path))
    assert metrics == [] and "not valid JSON" in errors[0]
