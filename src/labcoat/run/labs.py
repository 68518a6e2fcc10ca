"""Parallel labs, and papers written in sequence (AgentRxiv).

`labs: N` runs N labs on one topic at once; `papers_to_write: M` makes each lab
write M papers one after another, each building on the archive so far. A lab
group lives in one folder:

    <group>/labs.json                 what the group is (topic, N, M, archive)
    <group>/archive/                  the group's own archive, when no archive.url is configured
    <group>/<group>-lab<i>-p<j>/      one ordinary run (its own store) per lab and paper

Each run executes in its own process (`python -m labcoat resume RUN`), so labs
use both cores and a crash in one lab never touches another; the driver of
each run alone writes its store. Resuming a group resumes every unfinished run
and starts the papers not yet begun; finished runs are left as they are.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from labcoat.config.loading import validate_config
from labcoat.config.schema import ResearchConfig
from labcoat.errors import LabcoatError
from labcoat.run.runner import create_run
from labcoat.store import open_store

GROUP_FILE = "labs.json"


@dataclass
class LabGroup:
    root: Path
    config: dict
    labs: int
    papers: int
    archive_url: str | None

    @property
    def name(self) -> str:
        return self.root.name

    def run_dir(self, lab: int, paper: int) -> Path:
        return self.root / f"{self.name}-lab{lab}-p{paper}"

    def lab_config(self, lab: int, paper: int, archive_url: str) -> ResearchConfig:
        """One run's config: the group's, as a single lab and paper, publishing to the group's archive."""
        data = json.loads(json.dumps(self.config))
        data.update(labs=1, papers_to_write=1)
        data["archive"] = {**data.get("archive", {}), "url": archive_url, "enabled": True, "publish": True,
                           "lab": f"{self.name} lab {lab + 1}"}
        notes = data.setdefault("task_notes", {})
        for phase in ("literature_review", "plan_formulation"):
            notes.setdefault(phase, []).append(
                f"This is lab {lab + 1} of {self.labs}, paper {paper + 1} of {self.papers}, on this topic; "
                "search the lab archive for the other labs' and your earlier reports and build on them.")
        return validate_config(data, source=str(self.root / GROUP_FILE))


def is_group(path: Path) -> bool:
    return (Path(path) / GROUP_FILE).exists()


def create_group(config: ResearchConfig, root: Path) -> LabGroup:
    root = Path(root)
    if is_group(root) or (root / "run.db").exists():
        raise LabcoatError(f"{root} already holds a run or a lab group; resume it or choose another --run-dir")
    root.mkdir(parents=True, exist_ok=True)
    data = {"topic": config.topic, "labs": config.labs, "papers": config.papers_to_write,
            "archive_url": config.archive.url, "config": config.model_dump(mode="json")}
    (root / GROUP_FILE).write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
    return load_group(root)


def load_group(root: Path) -> LabGroup:
    try:
        data = json.loads((Path(root) / GROUP_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LabcoatError(f"{root / GROUP_FILE} is not a readable lab group: {exc}") from None
    return LabGroup(Path(root), data["config"], int(data["labs"]), int(data["papers"]), data.get("archive_url"))


@dataclass
class LabOutcome:
    lab: int
    runs: list[tuple[Path, str]] = field(default_factory=list)  # (run dir, final state)


def run_group(group: LabGroup, *, say: Callable[[str], None] = print,
              python: str = sys.executable) -> list[LabOutcome]:
    """Run every lab of the group at once (each paper after the previous one finishes)."""
    from labcoat.archive.local import LocalArchive

    with LocalArchive.for_group(group.root, group.archive_url) as archive:
        say(f"lab group {group.name}: {group.labs} lab(s) x {group.papers} paper(s); archive at {archive.url}")
        outcomes = [LabOutcome(lab) for lab in range(group.labs)]
        threads = [threading.Thread(target=_run_lab, args=(group, o, archive.url, say, python), daemon=True)
                   for o in outcomes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return outcomes


def _run_lab(group: LabGroup, outcome: LabOutcome, archive_url: str, say: Callable[[str], None],
             python: str) -> None:
    for paper in range(group.papers):
        run_dir = group.run_dir(outcome.lab, paper)
        if not (run_dir / "run.db").exists():
            create_run(group.lab_config(outcome.lab, paper, archive_url), run_dir)
        state = _state(run_dir)
        if state != "finished":
            say(f"lab {outcome.lab} paper {paper}: running {run_dir.name} (log: {run_dir / 'console.log'})")
            with (run_dir / "console.log").open("a", encoding="utf-8") as log:
                subprocess.run([python, "-m", "labcoat", "resume", str(run_dir), "--set", f"archive.url={archive_url}"],
                               stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=False)
            state = _state(run_dir)
        say(f"lab {outcome.lab} paper {paper}: {state}")
        outcome.runs.append((run_dir, state))
        if state != "finished":
            return  # the next paper builds on this one: stop this lab here, resumable


def _state(run_dir: Path) -> str:
    with open_store(run_dir, readonly=True) as store:
        return store.info().shown_state
