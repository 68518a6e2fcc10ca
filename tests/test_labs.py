"""Lab groups: N labs at once, M papers each in sequence, one archive, resumable."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from labcoat.cli import build_app
from labcoat.run.labs import load_group
from labcoat.store import open_store


def test_two_labs_two_papers_each_run_as_separate_runs_sharing_one_archive(tmp_path, runs_dir, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    config = tmp_path / "labs.yaml"
    config.write_text("research-topic: scaling and classifier rankings\nparallel-labs: 2\nnum-papers-to-write: 2\n"
                      "phases: [literature_review]\nnum-papers-lit-review: 0\n", encoding="utf-8")
    app = build_app()
    result = CliRunner().invoke(app, ["run", str(config), "--run-dir", str(runs_dir / "group")])
    assert result.exit_code == 0, result.output
    group = load_group(runs_dir / "group")
    assert (group.labs, group.papers) == (2, 2)
    urls = set()
    for lab in range(2):
        for paper in range(2):
            run_dir = group.run_dir(lab, paper)
            with open_store(run_dir, readonly=True) as store:
                info, cfg = store.info(), store.config()
            assert info.state == "finished", (run_dir, info.message)
            assert cfg["labs"] == 1 and cfg["papers_to_write"] == 1 and cfg["archive"]["enabled"]
            assert f"lab {lab + 1} of 2, paper {paper + 1} of 2" in " ".join(cfg["task_notes"]["literature_review"])
            urls.add(cfg["archive"]["url"])
    assert len(urls) == 1 and next(iter(urls)).startswith("http://127.0.0.1:")   # one archive for the group
    assert (runs_dir / "group" / "archive").is_dir()

    listing = CliRunner().invoke(app, ["runs"])
    assert listing.exit_code == 0 and listing.output.count("[group group]") == 4, listing.output

    again = CliRunner().invoke(app, ["resume", str(runs_dir / "group")])
    assert again.exit_code == 0 and "lab group group: finished" in again.output, again.output
    manifest = json.loads((runs_dir / "group" / "labs.json").read_text())
    assert manifest["labs"] == 2 and manifest["papers"] == 2
