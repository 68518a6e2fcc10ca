"""Scripted ML engineer and reward model for the mle-solver (tests only).

The starting program is deliberately weak (a majority-class baseline on
scikit-learn's breast-cancer data); the scripted edits swap in a real model,
break the program, repair it, or — as a dishonest repair — delete the
training and write a made-up accuracy.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from tests.support.lab_policies import reply_command
from tests.support.scripted_provider import ScriptedRequest

WEAK = '''import time
started = time.time()  # before the imports: the window covers the whole run of the program
import json
from sklearn.datasets import load_breast_cancer
from sklearn.dummy import DummyClassifier
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split

X, y = load_breast_cancer(return_X_y=True)
X_tmp, X_test, y_tmp, y_test = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
X_train, X_dev, y_train, y_dev = train_test_split(X_tmp, y_tmp, test_size=0.25, random_state=0, stratify=y_tmp)
model = DummyClassifier(strategy="most_frequent")
model.fit(X_train, y_train)
busy = 0
for i in range(WORK):
    busy += i % 7
metrics = [{"name": "accuracy", "value": accuracy_score(y_dev, model.predict(X_dev)), "split": "dev", "higher_is_better": True}]
import os
if os.environ.get("LABCOAT_EVAL_SPLIT") == "test":
    metrics.append({"name": "accuracy", "value": accuracy_score(y_test, model.predict(X_test)), "split": "test", "higher_is_better": True})
json.dump(metrics, open("metrics.json", "w"))
print(f"window {started:.3f} {time.time():.3f}")
'''

FAKE = '''import json
print("accuracy: 0.9737")
json.dump([{"name": "accuracy", "value": 0.9737, "split": "dev", "higher_is_better": True}], open("metrics.json", "w"))
'''


def weak(work: int = 0) -> str:
    return WEAK.replace("WORK", str(work))


def line_of(request: ScriptedRequest, pattern: str) -> int:
    """The number the prompt shows for the first program line matching `pattern`."""
    for match in re.finditer(r"^\s*(\d+)\| (.*)$", request.last_user, re.M):
        if re.search(pattern, match.group(2)):
            return int(match.group(1))
    raise AssertionError(f"no line matching {pattern!r} in the program shown")


def swap_model(request: ScriptedRequest, new: str) -> Any:
    n = line_of(request, r"^model = ")
    return reply_command("edit", start=n, end=n, body=new)


GOOD_MODEL = ("from sklearn.linear_model import LogisticRegression\n"
              "from sklearn.pipeline import make_pipeline\nfrom sklearn.preprocessing import StandardScaler\n"
              "model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))")
BROKEN_MODEL = "model = NoSuchClassifier()"


ATTEMPT = re.compile(r"^## Attempt (\S+) .*$", re.M)


def assess(request: ScriptedRequest, score: float, rationale: str, lesson: str) -> Any:
    """The reward model's verdicts, one per attempt shown: a score for one that ran, null for one that
    produced no result."""
    verdicts = []
    for match in ATTEMPT.finditer(request.last_user):
        ran = "score null" not in match.group(0)
        verdicts.append({"attempt": match.group(1), "score": score if ran else None,
                         "rationale": rationale if ran else "It failed.", "lesson": lesson})
    assert verdicts, "an assess request names no attempt"
    return reply_command("assess", verdicts=verdicts)


def mle_policy(*, propose: Callable[[ScriptedRequest, int], Any], repair: Callable[[ScriptedRequest, int], Any],
               work: int = 0) -> Callable[[ScriptedRequest, str, int], Any]:
    """A running_experiments policy: `propose(request, n)` / `repair(request, n)` get the call's ordinal."""
    counts = {"propose": 0, "repair": 0}

    def policy(request: ScriptedRequest, role: str, step: int) -> Any:
        names = request.command_names
        prompt = request.last_user
        if names == ["assess"]:
            return assess(request, 0.6, "Sound split and a measured dev metric.",
                          "Keep the dev split for selection; the model matters most.")
        if "No program exists yet" in prompt:
            return reply_command("replace", body=weak(work))
        if "This program failed" in prompt:
            counts["repair"] += 1
            return repair(request, counts["repair"])
        counts["propose"] += 1
        return propose(request, counts["propose"])

    return policy
