"""The programs a bundle carries, read from the run store's recorded sandbox runs.

Each program is the exact request labcoat recorded for it (code, files, plain
environment, granted variable names, limits, inputs) and what it recorded
(exit, duration, metrics). Journal node `s{step}c{cand}` ran as the effect
`…/mle/{step}/cand/{cand}/run/0`, its repair r{n} as `…/run/{n}`; the best
program's test run is `…/mle/final/test`; the data program is the data
phase's accepted submission.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from labcoat.bundle.claims import DATA_PROGRAM, FINAL_TEST, node_program
from labcoat.store.runstore import RunStore

_NODE = re.compile(r"^s(?P<step>\d+)c(?P<cand>\d+)(?:r(?P<attempt>\d+))?$")
_SEEDS = re.compile(r"\b(?:random_state|seed|random_seed|manual_seed)\s*[=(]\s*(\d+)")


@dataclass
class RecordedProgram:
    name: str
    role: str
    key: str
    request: dict[str, Any]
    result: dict[str, Any]
    duration_s: float
    model_calls: list[dict[str, Any]] = field(default_factory=list)

    @property
    def seeds(self) -> dict[str, Any]:
        # The sandbox fixes the hash seed; everything else a program seeds itself, in its code.
        return {"PYTHONHASHSEED": "0", "in_code": sorted(set(_SEEDS.findall(self.request.get("code") or "")))}


def _exec_rows(store: RunStore) -> list[tuple[str, dict, dict, float]]:
    rows = store.db.execute("SELECT key, request, result, duration_s FROM effects WHERE kind='exec' ORDER BY rowid")
    return [(r["key"], json.loads(r["request"]), json.loads(r["result"]), float(r["duration_s"] or 0.0))
            for r in rows]


def _latest(rows, predicate) -> tuple[str, dict, dict, float] | None:
    found = [row for row in rows if predicate(row)]
    return found[-1] if found else None


def _ok(result: dict) -> bool:
    return result.get("exit_code") == 0 and not result.get("killed_by")


def find_programs(store: RunStore, names: set[str], data: dict | None, results: dict | None) -> list[RecordedProgram]:
    """The recorded runs of the programs `names` (bundle names) plus the data program, data first."""
    rows = _exec_rows(store)
    programs: list[RecordedProgram] = []
    if data and data.get("code"):
        row = _latest(rows, lambda r: r[0].startswith("data_preparation#") and r[1].get("code") == data["code"]
                      and _ok(r[2]))
        if row:
            programs.append(RecordedProgram(DATA_PROGRAM, "data preparation (the accepted data code)", *row))
    nodes = {str(n.get("id")): n for n in (results or {}).get("journal", [])}
    best_code = (results or {}).get("best_code") or ""
    for name in sorted(names - {DATA_PROGRAM}):
        row = None
        if name == FINAL_TEST:
            row = _latest(rows, lambda r: r[0].endswith("/mle/final/test") and r[1].get("code") == best_code)
            role = "the best program's single run on the test split"
        else:
            node_id = name.removeprefix("node_")
            spot = _NODE.match(node_id)
            node = nodes.get(node_id)
            if spot and node:
                suffix = f"/mle/{spot['step']}/cand/{spot['cand']}/run/{spot['attempt'] or 0}"
                row = _latest(rows, lambda r: r[0].endswith(suffix) and r[1].get("code") == node.get("code"))
            role = f"experiment candidate {node_id} (dev split)"
        if row:
            programs.append(RecordedProgram(name, role, *row))
    return programs


def program_names_for(claim_programs: set[str], results: dict | None) -> set[str]:
    """Claimed programs, plus the best program and its test run whenever the run has them."""
    names = set(claim_programs)
    for m in (results or {}).get("metrics", []):
        if m.get("source"):
            names.add(node_program(str(m["source"]).split("/")[0]))
    if (results or {}).get("test_metrics"):
        names.add(FINAL_TEST)
    return names
