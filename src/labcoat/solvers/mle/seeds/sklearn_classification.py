"""Seed: tabular classification with scikit-learn.

Reads every prepared data set (LABCOAT_DATA_DIR/*.npz with X_train, y_train,
X_dev, y_dev, X_test, y_test) or falls back to scikit-learn's bundled breast
cancer data; compares a few classifiers, selects on dev only, evaluates the
selected ones on test only when LABCOAT_EVAL_SPLIT=test; writes metrics.json
and a figure.
"""
import glob
import json
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

SEED = 0
KEYS = ("X_train", "y_train", "X_dev", "y_dev", "X_test", "y_test")


def load_sets():
    sets = {}
    data_dir = os.environ.get("LABCOAT_DATA_DIR", "")
    for path in sorted(glob.glob(os.path.join(data_dir, "*.npz"))) if data_dir else []:
        arrays = np.load(path, allow_pickle=False)
        if set(KEYS) <= set(arrays.files):
            sets[os.path.splitext(os.path.basename(path))[0]] = {k: arrays[k] for k in KEYS}
    if not sets:
        from sklearn.datasets import load_breast_cancer

        print("no prepared data in LABCOAT_DATA_DIR; using scikit-learn's breast cancer data")
        X, y = load_breast_cancer(return_X_y=True)
        X_tmp, X_test, y_tmp, y_test = train_test_split(X, y, test_size=0.2, random_state=SEED, stratify=y)
        X_train, X_dev, y_train, y_dev = train_test_split(X_tmp, y_tmp, test_size=0.25, random_state=SEED,
                                                          stratify=y_tmp)
        sets["breast_cancer"] = dict(X_train=X_train, y_train=y_train, X_dev=X_dev, y_dev=y_dev,
                                     X_test=X_test, y_test=y_test)
    return sets


def models():
    return {
        "logreg": make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)),
        "random_forest": RandomForestClassifier(n_estimators=200, random_state=SEED),
        "svc": make_pipeline(StandardScaler(), SVC()),
    }


def main():
    final_test = os.environ.get("LABCOAT_EVAL_SPLIT") == "test"
    metrics, best_dev, best_test, table = [], [], [], {}
    for name, d in load_sets().items():
        scores = {}
        fitted = {}
        for model_name, model in models().items():
            model.fit(d["X_train"], d["y_train"])
            scores[model_name] = accuracy_score(d["y_dev"], model.predict(d["X_dev"]))
            fitted[model_name] = model
            metrics.append({"name": f"{name}/{model_name}/accuracy", "value": scores[model_name],
                            "split": "dev", "higher_is_better": True})
            print(f"{name} {model_name}: dev accuracy {scores[model_name]:.4f}")
        chosen = max(scores, key=scores.get)
        best_dev.append(scores[chosen])
        table[name] = scores
        if final_test:
            test_acc = accuracy_score(d["y_test"], fitted[chosen].predict(d["X_test"]))
            best_test.append(test_acc)
            metrics.append({"name": f"{name}/{chosen}/accuracy", "value": test_acc, "split": "test",
                            "higher_is_better": True})
            print(f"{name} {chosen}: test accuracy {test_acc:.4f}")
    metrics.append({"name": "accuracy", "value": float(np.mean(best_dev)), "split": "dev", "higher_is_better": True})
    if final_test:
        metrics.append({"name": "accuracy", "value": float(np.mean(best_test)), "split": "test",
                        "higher_is_better": True})
    with open("metrics.json", "w") as f:
        json.dump(metrics, f, indent=1)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    width = 0.8 / max(1, len(table))
    model_names = list(models())
    for i, (name, scores) in enumerate(table.items()):
        ax.bar(np.arange(len(model_names)) + i * width, [scores[m] for m in model_names], width, label=name)
    ax.set_xticks(np.arange(len(model_names)) + width * (len(table) - 1) / 2, model_names)
    ax.set_ylabel("dev accuracy")
    ax.legend()
    fig.tight_layout()
    fig.savefig("dev_accuracy.png", dpi=120)


if __name__ == "__main__":
    main()
