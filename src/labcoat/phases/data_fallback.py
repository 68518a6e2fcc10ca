"""When the agents never produce data code that runs: scikit-learn's bundled data.

Small or offline models can spend the whole data-preparation budget without a
working program. Rather than end the run, labcoat prepares the bundled data
sets the plan (or the topic) names with a shipped, reviewed program, runs it
in the sandbox like any other, and records loudly that it did so; the report
states it too. If nothing bundled fits, the phase fails as before.
"""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

from labcoat.artefacts import DataCode, Plan

TEMPLATE = Path(__file__).parent / "templates" / "bundled_data.py.tmpl"

# name -> (loader in sklearn.datasets, is classification, words that name it)
BUNDLED: dict[str, tuple[str, bool, tuple[str, ...]]] = {
    "breast_cancer": ("load_breast_cancer", True, ("breast", "cancer", "wdbc")),
    "wine": ("load_wine", True, ("wine",)),
    "digits": ("load_digits", True, ("digit", "mnist")),
    "iris": ("load_iris", True, ("iris",)),
    "diabetes": ("load_diabetes", False, ("diabetes",)),
}


def bundled_for(plan: Plan | None, topic: str) -> list[str]:
    """The bundled data sets the plan's data sets (else the topic) name, in a stable order."""
    texts = [" ".join(d.name + " " + d.source for d in plan.datasets)] if plan is not None else []
    texts.append(topic)
    for text in texts:
        words = re.sub(r"[^a-z0-9]+", " ", text.lower())
        found = [name for name, (_, _, keys) in BUNDLED.items() if any(k in words for k in keys)]
        if found:
            return found
    return []


def bundled_code(names: list[str]) -> str:
    sets = {n: (BUNDLED[n][0], BUNDLED[n][1]) for n in names}
    return Template(TEMPLATE.read_text(encoding="utf-8")).substitute(sets=repr(sets))


def describe(names: list[str]) -> DataCode:
    """The DataCode record of the fallback, before its run fills sizes and output."""
    return DataCode(code=bundled_code(names), data_source="scikit-learn bundled data sets: " + ", ".join(names),
                    data_version="as shipped with the installed scikit-learn",
                    subsampling=[])
