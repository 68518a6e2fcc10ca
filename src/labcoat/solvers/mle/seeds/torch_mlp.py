"""Seed: a small PyTorch training loop (MLP classifier) on CPU.

Reads LABCOAT_DATA_DIR/*.npz (the first data set) or falls back to
scikit-learn's digits; trains with Adam and early selection on dev accuracy;
tests the selected epoch's weights only when LABCOAT_EVAL_SPLIT=test; writes
metrics.json and a learning-curve figure.
"""
import glob
import json
import os

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

SEED = 0
KEYS = ("X_train", "y_train", "X_dev", "y_dev", "X_test", "y_test")


def load():
    data_dir = os.environ.get("LABCOAT_DATA_DIR", "")
    for path in sorted(glob.glob(os.path.join(data_dir, "*.npz"))) if data_dir else []:
        arrays = np.load(path, allow_pickle=False)
        if set(KEYS) <= set(arrays.files):
            return {k: arrays[k] for k in KEYS}
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    print("no prepared data in LABCOAT_DATA_DIR; using scikit-learn's digits data")
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    X_tmp, X_test, y_tmp, y_test = train_test_split(X, y, test_size=0.2, random_state=SEED, stratify=y)
    X_train, X_dev, y_train, y_dev = train_test_split(X_tmp, y_tmp, test_size=0.25, random_state=SEED,
                                                      stratify=y_tmp)
    return dict(X_train=X_train, y_train=y_train, X_dev=X_dev, y_dev=y_dev, X_test=X_test, y_test=y_test)


def tensors(d, split):
    return (torch.tensor(d[f"X_{split}"], dtype=torch.float32), torch.tensor(d[f"y_{split}"], dtype=torch.long))


def accuracy(model, X, y):
    with torch.no_grad():
        return float((model(X).argmax(1) == y).float().mean())


def main():
    torch.manual_seed(SEED)
    d = load()
    X_train, y_train = tensors(d, "train")
    X_dev, y_dev = tensors(d, "dev")
    classes = int(max(y_train.max(), y_dev.max())) + 1
    model = nn.Sequential(nn.Linear(X_train.shape[1], 64), nn.ReLU(), nn.Linear(64, classes))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    curve, best, best_state = [], -1.0, None
    for epoch in range(60):
        perm = torch.randperm(len(X_train))
        for i in range(0, len(X_train), 64):
            idx = perm[i:i + 64]
            opt.zero_grad()
            loss = loss_fn(model(X_train[idx]), y_train[idx])
            loss.backward()
            opt.step()
        dev_acc = accuracy(model, X_dev, y_dev)
        curve.append(dev_acc)
        if dev_acc > best:
            best, best_state = dev_acc, {k: v.clone() for k, v in model.state_dict().items()}
    print(f"best dev accuracy {best:.4f}")
    metrics = [{"name": "accuracy", "value": best, "split": "dev", "higher_is_better": True}]
    if os.environ.get("LABCOAT_EVAL_SPLIT") == "test":
        model.load_state_dict(best_state)
        X_test, y_test = tensors(d, "test")
        test_acc = accuracy(model, X_test, y_test)
        print(f"test accuracy {test_acc:.4f}")
        metrics.append({"name": "accuracy", "value": test_acc, "split": "test", "higher_is_better": True})
    with open("metrics.json", "w") as f:
        json.dump(metrics, f, indent=1)
    plt.figure(figsize=(5, 3))
    plt.plot(range(1, len(curve) + 1), curve)
    plt.xlabel("epoch")
    plt.ylabel("dev accuracy")
    plt.tight_layout()
    plt.savefig("learning_curve.png", dpi=120)


if __name__ == "__main__":
    main()
