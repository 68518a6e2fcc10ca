"""Scripted behaviour of the lab's agents, phase by phase (tests only).

Each policy answers `(request, role, step)` with what a model would send.
They include the misbehaviour the phases must survive: a repeated search,
an unknown paper, data code that crashes before it is fixed, an
interpretation quoting a number nobody recorded.
"""

from __future__ import annotations

from typing import Any

from tests.support.lab_services import retrieved_ids
from tests.support.scripted_provider import CommandReply, ScriptedRequest


def reply_command(name: str, *, body: str | None = None, **fields: Any) -> CommandReply:
    """A command reply whose fields may include `text` (reply_command's own `text` is the message prose)."""
    return CommandReply(name, dict(fields), body)

DATA_CODE = '''
import json, os
import numpy as np
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.model_selection import train_test_split

os.makedirs("data", exist_ok=True)
sizes = {}
for name, loader in (("breast_cancer", load_breast_cancer), ("wine", load_wine)):
    X, y = loader(return_X_y=True)
    X_tmp, X_test, y_tmp, y_test = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
    X_train, X_dev, y_train, y_dev = train_test_split(X_tmp, y_tmp, test_size=0.25, random_state=0, stratify=y_tmp)
    np.savez(f"data/{name}.npz", X_train=X_train, y_train=y_train, X_dev=X_dev, y_dev=y_dev, X_test=X_test, y_test=y_test)
    sizes[f"{name}_train"], sizes[f"{name}_dev"], sizes[f"{name}_test"] = len(y_train), len(y_dev), len(y_test)
    print(name, "train", len(y_train), "dev", len(y_dev), "test", len(y_test))
with open("data/manifest.json", "w") as f:
    json.dump({"splits": sizes, "subsampling": []}, f)
'''

CRASHING_CODE = "import numpy as np\nraise ValueError('the data file is missing a column')\n"

PLAN = dict(
    question="Does standardising features change the ranking of three classifiers?",
    hypotheses=["Standardisation helps logistic regression and SVMs but not random forests."],
    datasets=[{"name": "breast_cancer", "source": "scikit-learn", "notes": "bundled"},
              {"name": "wine", "source": "scikit-learn", "notes": "bundled"}],
    method="Compare each classifier with and without StandardScaler.",
    baselines=["logistic regression", "random forest", "svc"],
    metrics=[{"name": "accuracy", "higher_is_better": True, "split": "dev", "description": "mean dev accuracy"}],
    protocol="Select on dev; test once at the end.",
    figures=["dev accuracy per model"], compute_budget="minutes on a CPU",
)


def literature(request: ScriptedRequest, role: str, step: int) -> Any:
    ids = retrieved_ids(request)
    if step in (1, 2):  # step 2 repeats step 1's search exactly: refused
        return reply_command("search", query="feature scaling classifier comparison", source="arxiv")
    if step == 3:
        return reply_command("add_paper", paper_id="9999.99999v1", summary="A paper that was never retrieved.")
    if step == 4:
        return reply_command("add_paper", paper_id=ids[0], summary="Tests which methods suit which data.")
    if step == 5:
        return reply_command("add_paper", paper_id=ids[0], summary="The same paper again.")
    return reply_command("add_paper", paper_id=ids[1], summary="A second relevant study of evaluation.")


def planning(request: ScriptedRequest, role: str, step: int, *, stubborn: bool = False, plan: dict | None = None) -> Any:
    allowed = request.command_names
    if "plan" in allowed and (step >= 3 or allowed == ["plan"]) and not (stubborn and allowed != ["plan"]):
        return reply_command("plan", **(plan or PLAN))
    return reply_command("dialogue", text=f"{role} at step {step}: let us compare three classifiers.")


def data_prep(request: ScriptedRequest, role: str, step: int) -> Any:
    if role == "ml_engineer":
        return reply_command("dialogue", text="The loader raised an error; load the bundled data instead.")
    if step == 1:
        return reply_command("submit_code", data_source="scikit-learn", data_version="bundled",
                             subsampling=[], body=CRASHING_CODE)
    return reply_command("submit_code", data_source="scikit-learn bundled data sets", data_version="1.x",
                         subsampling=[], body=DATA_CODE)


def interpretation(request: ScriptedRequest, role: str, step: int, *, value: str = "0.9649") -> Any:
    if role == "phd":
        return reply_command("dialogue", text="Only quote the recorded dev accuracy.")
    if step == 1:
        return reply_command("interpretation", text="Accuracy reached 0.123 on dev.", claims=["made up"])
    return reply_command("interpretation", text=f"The best mean dev accuracy was {value}.",
                         claims=[f"Standardised models reached {value} dev accuracy."])
