"""Seed: tabular regression with scikit-learn.

Reads LABCOAT_DATA_DIR/*.npz (X_train, y_train, X_dev, y_dev, X_test, y_test)
or falls back to scikit-learn's bundled diabetes data; compares regressors by
dev RMSE (lower is better), tests the selected one only when
LABCOAT_EVAL_SPLIT=test; writes metrics.json and a figure.
"""
import glob
import json
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

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
        from sklearn.datasets import load_diabetes

        print("no prepared data in LABCOAT_DATA_DIR; using scikit-learn's diabetes data")
        X, y = load_diabetes(return_X_y=True)
        X_tmp, X_test, y_tmp, y_test = train_test_split(X, y, test_size=0.2, random_state=SEED)
        X_train, X_dev, y_train, y_dev = train_test_split(X_tmp, y_tmp, test_size=0.25, random_state=SEED)
        sets["diabetes"] = dict(X_train=X_train, y_train=y_train, X_dev=X_dev, y_dev=y_dev,
                                X_test=X_test, y_test=y_test)
    return sets


def rmse(y, p):
    return float(np.sqrt(mean_squared_error(y, p)))


def main():
    final_test = os.environ.get("LABCOAT_EVAL_SPLIT") == "test"
    metrics, dev_scores, test_scores = [], [], []
    for name, d in load_sets().items():
        scores, fitted = {}, {}
        for model_name, model in {
            "ridge": make_pipeline(StandardScaler(), Ridge(alpha=1.0)),
            "gradient_boosting": GradientBoostingRegressor(random_state=SEED),
        }.items():
            model.fit(d["X_train"], d["y_train"])
            scores[model_name] = rmse(d["y_dev"], model.predict(d["X_dev"]))
            fitted[model_name] = model
            metrics.append({"name": f"{name}/{model_name}/rmse", "value": scores[model_name], "split": "dev",
                            "higher_is_better": False})
            print(f"{name} {model_name}: dev rmse {scores[model_name]:.4f}")
        chosen = min(scores, key=scores.get)
        dev_scores.append(scores[chosen])
        if final_test:
            test_scores.append(rmse(d["y_test"], fitted[chosen].predict(d["X_test"])))
        plt.figure(figsize=(5, 3))
        plt.bar(list(scores), list(scores.values()))
        plt.ylabel("dev RMSE")
        plt.title(name)
        plt.tight_layout()
        plt.savefig(f"{name}_dev_rmse.png", dpi=120)
        plt.close()
    metrics.append({"name": "rmse", "value": float(np.mean(dev_scores)), "split": "dev", "higher_is_better": False})
    if final_test:
        metrics.append({"name": "rmse", "value": float(np.mean(test_scores)), "split": "test",
                        "higher_is_better": False})
    with open("metrics.json", "w") as f:
        json.dump(metrics, f, indent=1)


if __name__ == "__main__":
    main()
