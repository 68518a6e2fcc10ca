"""Which programs produced a number the paper states, and which numbers.

The integrity check (`report/integrity.json`) matched each stated number to
its recorded source: `s2c1: accuracy (dev)` is a metric of journal node s2c1,
`s2c1/test: …` one of the best program's single test run, `node s2c1: …` a
metric of any program the journal holds, `node s2c1 output` a number that
program printed, `data sizes: train` a split size from the data program and
`data preparation output` a number it printed. Those sources name the programs a bundle must carry.
Without an integrity record, the Results' own metrics (the paper's generated
table) are the claims.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

DATA_PROGRAM = "data_preparation"
FINAL_TEST = "final_test"
_METRIC_SOURCE = re.compile(r"^(?:node )?(?P<node>[A-Za-z0-9_.-]+?)(?P<test>/test)?: (?P<name>.+?)(?: \((?P<split>[^()]+)\))?$")
_SIZE_SOURCE = re.compile(r"^data sizes: (?P<split>.+)$")
_OUTPUT_SOURCE = re.compile(r"^(?:node (?P<node>[A-Za-z0-9_.-]+)|data preparation) output$")
PRINTED = "printed "  # a claim on a number the program printed: metric "printed 0.87"


@dataclass
class Claim:
    """A number the paper states, traced to the program metric it rounds."""

    program: str  # bundle program name
    metric: str
    split: str
    stated: str  # as written in the paper
    line: int | None = None
    file: str = ""

    @property
    def ident(self) -> tuple[str, str, str]:
        return (self.program, self.metric, self.split)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def node_program(node_id: str) -> str:
    return f"node_{node_id}"


def claims_from_integrity(matched: list[dict[str, Any]], node_ids: set[str]) -> list[Claim]:
    """Program claims among the integrity check's matches; other sources (reviews, cited papers) are not runs."""
    claims: dict[tuple[str, str, str], Claim] = {}
    for entry in matched:
        source = str(entry.get("source", ""))
        claim = _claim(source, node_ids, entry)
        if claim is not None and claim.ident not in claims:
            claims[claim.ident] = claim
    return list(claims.values())


def _claim(source: str, node_ids: set[str], entry: dict[str, Any]) -> Claim | None:
    where = {"stated": str(entry.get("number", "")), "line": entry.get("line"), "file": entry.get("file", "")}
    printed = _OUTPUT_SOURCE.match(source)
    if printed:
        node = printed.group("node")
        if node is not None and node not in node_ids:
            return None
        return Claim(node_program(node) if node else DATA_PROGRAM, PRINTED + where["stated"], "output", **where)
    size = _SIZE_SOURCE.match(source)
    if size:
        return Claim(DATA_PROGRAM, f"size:{size.group('split')}", "data", **where)
    found = _METRIC_SOURCE.match(source)
    if not found or found.group("node") not in node_ids or source.endswith(" output"):
        return None
    split = found.group("split") or ("test" if found.group("test") else "dev")
    program = FINAL_TEST if found.group("test") else node_program(found.group("node"))
    return Claim(program, found.group("name"), split, **where)


def claims_from_results(results: dict[str, Any]) -> list[Claim]:
    """The Results' metrics (the paper's generated table), for runs checked before integrity records existed."""
    claims = []
    for m in [*results.get("metrics", []), *results.get("test_metrics", [])]:
        source = str(m.get("source") or "")
        program = FINAL_TEST if source.endswith("/test") else node_program(source)
        claims.append(Claim(program, str(m["name"]), str(m.get("split", "dev")), f"{m['value']:.4g}"))
    return claims


def paper_claims(run_dir: Path, results: dict[str, Any] | None) -> tuple[list[Claim], str]:
    """(claims, how they were found)."""
    node_ids = {str(n.get("id")) for n in (results or {}).get("journal", []) if n.get("id")}
    integrity = run_dir / "report" / "integrity.json"
    if integrity.is_file():
        data = json.loads(integrity.read_text(encoding="utf-8"))
        return claims_from_integrity(data.get("matched") or [], node_ids), "report/integrity.json"
    if results:
        return claims_from_results(results), "the Results artefact (no integrity record)"
    return [], "nothing (the run has no results)"
