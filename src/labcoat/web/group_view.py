"""A lab group for the dashboard: its labs side by side, the papers each published, who cited them.

A group folder holds `labs.json` and one ordinary run per lab and paper
(`run.labs`). Each run's row is read from its own store (read-only) and its
report files; a published paper is an archive id from the run's `published`
event, and another lab cited it when that lab's literature review took the
paper from the archive and its report cites the paper's key.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from labcoat.archive.store import parse_id
from labcoat.errors import LabcoatError, StoreError
from labcoat.run.labs import GROUP_FILE, LabGroup, load_group
from labcoat.store.runstore import DB_NAME, RunStore
from labcoat.web import files

CITE = re.compile(r"\\[a-zA-Z]*cite[a-zA-Z]*\*?(?:\[[^\]]*\])*\{([^}]*)\}")


@dataclass
class LabRun:
    lab: int
    paper: int
    name: str
    started: bool = False
    state: str = "not started"
    phase: str = "-"
    dollars: float = 0.0
    score: float | None = None
    integrity: str = "-"          # passed, N errors, not checked
    published: list[str] = field(default_factory=list)
    took: dict[int, str] = field(default_factory=dict)  # archive number -> the key this run cites it by
    cited_keys: set[str] = field(default_factory=set)
    error: str = ""


@dataclass
class Citation:
    run: str
    lab: int
    how: str  # "cited in its report" or "read in its literature review"


@dataclass
class PublishedPaper:
    archive_id: str
    run: str
    lab: int
    cited_by: list[Citation] = field(default_factory=list)


@dataclass
class GroupView:
    group: LabGroup
    labs: list[list[LabRun]]
    papers: list[PublishedPaper]

    @property
    def dollars(self) -> float:
        return sum(r.dollars for runs in self.labs for r in runs)


def group_dirs(runs_root: Path) -> list[Path]:
    """Every lab group folder under the runs root."""
    if not runs_root.is_dir():
        return []
    groups = []
    for marker in sorted(runs_root.glob(f"**/{GROUP_FILE}")):
        # a labs.json inside a run (a program may write any file in its workspace) is no group
        inside_run = any((d / DB_NAME).exists() for d in marker.parents if d.is_relative_to(runs_root))
        if not inside_run:
            groups.append(marker.parent)
    return groups


def find_group(runs_root: Path, ref: str) -> Path | None:
    """The group folder named `ref` under the runs root, if there is one."""
    return next((path for path in group_dirs(runs_root) if path.name == ref), None)


def _score(store: RunStore) -> float | None:
    row = store.db.execute(
        "SELECT json_extract(payload, '$.overall_mean') FROM events WHERE kind='reviews' ORDER BY pos DESC LIMIT 1"
    ).fetchone() or store.db.execute(
        "SELECT json_extract(payload, '$.score') FROM events WHERE kind='paper_done' ORDER BY pos DESC LIMIT 1"
    ).fetchone()
    return float(row[0]) if row is not None and isinstance(row[0], (int, float)) else None


def _integrity(run_dir: Path) -> str:
    data, error = files.read_json(run_dir, "integrity.json")
    if error:
        return "unreadable"
    if not isinstance(data, dict):
        return "not checked"
    if data.get("ok"):
        return "passed"
    errors = data.get("errors")
    if not isinstance(errors, int):
        errors = sum(1 for f in data.get("findings") or [] if isinstance(f, dict) and f.get("ok") is False)
    return f"{errors} error{'' if errors == 1 else 's'}"


def _took(store: RunStore) -> dict[int, str]:
    rows = store.db.execute(
        "SELECT json_extract(j.value, '$.id'), json_extract(j.value, '$.bibtex_key') "
        "FROM artefacts, json_each(artefacts.data, '$.papers') AS j WHERE artefacts.name='literature_review' "
        "AND j.type='object' AND json_extract(j.value, '$.source')='archive'")
    return {number: str(key or "") for paper_id, key in rows if (number := parse_id(str(paper_id))) is not None}


def _cited_keys(run_dir: Path) -> set[str]:
    rel = files.find_report_file(run_dir, "report.tex")
    if rel is None:
        return set()
    try:
        tex = (run_dir / rel).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    return {key.strip() for keys in CITE.findall(tex) for key in keys.split(",")}


def lab_run(run_dir: Path, lab: int, paper: int) -> LabRun:
    row = LabRun(lab, paper, run_dir.name)
    if not (run_dir / DB_NAME).exists():
        return row
    row.started = True
    try:
        with RunStore(run_dir, readonly=True) as store:
            info = store.info()
            row.state, row.phase, row.dollars = info.shown_state, info.phase or "-", store.dollars_spent()
            row.score = _score(store)
            row.published = [str(r[0]) for r in store.db.execute(
                "SELECT json_extract(payload, '$.archive_id') FROM events WHERE kind='published' ORDER BY pos")]
            row.took = _took(store)
    except (StoreError, sqlite3.DatabaseError, ValueError) as exc:
        row.state, row.error = "unreadable", f"the run store cannot be read: {exc}"
        return row
    row.integrity = _integrity(run_dir)
    row.cited_keys = _cited_keys(run_dir)
    return row


def group_view(root: Path) -> GroupView:
    try:
        group = load_group(root)
    except (LabcoatError, KeyError, TypeError, ValueError) as exc:
        raise LabcoatError(f"{root / GROUP_FILE} does not describe a lab group: {exc}") from None
    labs = [[lab_run(group.run_dir(lab, paper), lab, paper) for paper in range(group.papers)]
            for lab in range(group.labs)]
    papers = []
    for runs in labs:
        for run in runs:
            for archive_id in run.published:
                paper = PublishedPaper(archive_id, run.name, run.lab)
                number = parse_id(archive_id)
                for other in (r for rs in labs for r in rs if r.name != run.name and number in r.took):
                    how = ("cited in its report" if other.took[number] in other.cited_keys
                           else "read in its literature review")
                    paper.cited_by.append(Citation(other.name, other.lab, how))
                papers.append(paper)
    return GroupView(group, labs, papers)

