"""What a program leaves behind: metrics.json, figures, and the files it wrote.

The metrics protocol: a program writes `metrics.json` in its working
directory, a list of {"name", "value", "split", "higher_is_better"}. Each bad
entry is reported in `errors` and left out; nothing here raises for a
program's mistakes.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from labcoat.untrusted import UntrustedFileError, read_json

METRICS_FILE = "metrics.json"
FIGURE_SUFFIXES = (".png", ".pdf")
# Set up by the sandbox, not written by the program.
SANDBOX_DIRS = ("inputs", ".cache", ".config", ".tmp")
MAX_METRICS_BYTES = 1 << 20
MAX_METRICS = 1000
MAX_FILES = 2000


def read_metrics(workdir: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Valid metric entries and one error per problem found."""
    # Read by the driver outside the sandbox: a link could point at any file of the user's, a FIFO
    # would block forever, deep nesting would end the parser in RecursionError.
    try:
        data = read_json(Path(workdir) / METRICS_FILE, MAX_METRICS_BYTES, root=workdir)
    except FileNotFoundError:
        return [], []
    except UntrustedFileError as exc:
        return [], [f"{METRICS_FILE}: {str(exc).replace(str(Path(workdir) / METRICS_FILE), 'the file')}; "
                    "write only the metrics, as a plain JSON file"]
    if isinstance(data, dict) and isinstance(data.get("metrics"), list):
        data = data["metrics"]
    if not isinstance(data, list):
        return [], [f"{METRICS_FILE} must hold a list of {{name, value, split, higher_is_better}} objects, "
                    f"got {type(data).__name__}"]
    metrics, errors = [], []
    for i, entry in enumerate(data[:MAX_METRICS]):
        problem = _entry_problem(entry)
        if problem:
            errors.append(f"{METRICS_FILE}[{i}]: {problem}")
            continue
        metric = {"name": entry["name"].strip(), "value": float(entry["value"]), "split": entry.get("split", "dev")}
        if "higher_is_better" in entry:
            metric["higher_is_better"] = entry["higher_is_better"]
        else:
            errors.append(f"{METRICS_FILE}[{i}]: 'higher_is_better' of {metric['name']!r} is missing; "
                          "the plan's direction for this metric applies")
        metrics.append(metric)
    if len(data) > MAX_METRICS:
        errors.append(f"{METRICS_FILE}: only the first {MAX_METRICS} of {len(data)} entries were read")
    return metrics, errors


def _entry_problem(entry: Any) -> str | None:
    if not isinstance(entry, dict):
        return f"expected an object, got {type(entry).__name__}"
    name, value = entry.get("name"), entry.get("value")
    if not isinstance(name, str) or not name.strip():
        return "'name' must be a non-empty string"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"'value' of {name!r} must be a number, got {value!r}"
    if not math.isfinite(float(value)):
        return f"'value' of {name!r} is not finite ({value})"
    if "split" in entry and not isinstance(entry["split"], str):
        return f"'split' of {name!r} must be a string such as 'dev' or 'test'"
    if "higher_is_better" in entry and not isinstance(entry["higher_is_better"], bool):
        return f"'higher_is_better' of {name!r} must be true or false"
    return None


def written_files(workdir: Path, exclude: set[str] | None = None) -> list[str]:
    """Files the program left in its workdir (relative paths, sandbox dirs skipped)."""
    exclude = exclude or set()
    found: list[str] = []
    for root, dirs, files in os.walk(workdir):
        rel_root = os.path.relpath(root, workdir)
        if rel_root == ".":
            dirs[:] = [d for d in dirs if d not in SANDBOX_DIRS]
        dirs.sort()
        for name in sorted(files):
            rel = name if rel_root == "." else os.path.join(rel_root, name)
            # Links are not artefacts: outside the sandbox they could resolve to any of the user's files.
            if rel not in exclude and not os.path.islink(os.path.join(root, name)):
                found.append(rel)
            if len(found) >= MAX_FILES:
                return found
    return found


def figures(files: list[str]) -> list[str]:
    return [f for f in files if f.lower().endswith(FIGURE_SUFFIXES)]
