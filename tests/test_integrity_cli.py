"""`labcoat check RUN` on a run store with real artefacts and a report folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from labcoat.artefacts import DataCode, LitReview, MetricValue, PaperRecord, Results
from labcoat.report.scaffold import render_scaffold, write_report_dir
from labcoat.report.lines import set_section
from labcoat.cli import build_app
from labcoat.store.runstore import RunStore

BIB = "@article{smith2020probe,\n  title={Probing Tiny Language Models},\n  year={2020}\n}\n"


def _run(tmp_path: Path, results_text: str) -> Path:
    run_dir = tmp_path / "runs" / "r-check"
    results = Results(best_code="clf = MLP(hidden=256, lr=0.001)\n",
                      metrics=[MetricValue(name="dev_accuracy", value=0.8732, source="n7")],
                      journal=[{"id": "n7", "status": "ok", "metrics": [{"name": "dev_accuracy", "value": 0.8732}],
                                "stdout": "epoch 30 loss 0.3141\n"},
                               {"id": "n2", "status": "ok", "metrics": [{"name": "dev_accuracy", "value": 0.8411}],
                                "stdout": "loss 0.9999\n"}])
    data = DataCode(code="df = df.sample(n=5000, random_state=0)\n", sizes={"train": 5000, "dev": 872},
                    subsampling=["train subsampled to 5000 of 67349 examples"])
    review = LitReview(papers=[PaperRecord(id="2001.00001", title="Probing Tiny Language Models", summary="s",
                                           bibtex_key="smith2020probe", bibtex=BIB)])
    with RunStore(run_dir) as store:
        store.create_run("r-check", "probes", {}, "test")
        for name, artefact in (("running_experiments", results), ("data_preparation", data), ("literature_review", review)):
            store.put_artefact(name, type(artefact).__name__, artefact.model_dump(mode="json"), phase=name)
    tex = render_scaffold("Probes")
    tex = set_section(tex, "experimental_setup", "We subsample the 67,349 training sentences to 5,000; the MLP has 256 hidden units.")
    tex = set_section(tex, "results", results_text)
    figure = tmp_path / "loss_after_45.png"
    figure.write_bytes(b"\x89PNG\r\n\x1a\n")
    write_report_dir(run_dir / "report", tex, BIB, metrics=results.metrics, figures=[figure])
    return run_dir


def _check(run_dir: Path, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from labcoat.cli import main; main()", "check", str(run_dir),
                           *options], capture_output=True, text=True, timeout=120)


def test_check_flags_then_passes_and_writes_integrity_json(tmp_path: Path) -> None:
    bad = _run(tmp_path, "The MLP reaches 0.873 \\citep{smith2020probe,jones2019}.\nOn test it reaches 92.5\\%. Loss fell to 0.314.")
    done = _check(bad)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "integrity check FAILED: 2 error(s)" in done.stdout
    written = json.loads((bad / "report" / "integrity.json").read_text())
    found = {(f["kind"], f["text"]) for f in written["findings"]}
    assert found == {("unknown_citation", "jones2019"), ("unsupported_number", "92.5\\%")}
    assert written["ok"] is False and written["errors"] == 2
    sources = {m["number"]: m["source"] for m in written["matched"]}
    assert sources["0.873"].startswith("n7") and sources["0.314"] == "node n7 output" and sources["256"] == "recorded code"
    assert any(m.get("file") == "metrics_table.tex" for m in written["matched"])
    assert {"number": "45", "line": 4, "source": "figure file loss_after_45.png", "file": "figures.tex"} in written["matched"]

    good = _run(tmp_path / "fixed", "The MLP reaches 0.873 dev accuracy \\citep{smith2020probe}, 3.2 points above the 0.841 baseline.")
    done = _check(good)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "integrity check passed: 0 error(s)" in done.stdout
    assert json.loads((good / "report" / "integrity.json").read_text())["ok"] is True


def test_check_without_report_says_so(tmp_path: Path) -> None:
    run_dir = tmp_path / "empty"
    with RunStore(run_dir) as store:
        store.create_run("empty", "t", {}, "test")
    done = _check(run_dir)
    assert done.returncode == 1 and "has no report.tex" in done.stderr and "Traceback" not in done.stderr


def test_strict_fails_on_warnings_only_when_asked(tmp_path: Path) -> None:
    # A number in a sentence that cites a paper is a warning: it comes from the literature.
    run_dir = _run(tmp_path, "The MLP reaches 0.873 dev accuracy; probes reached 91.2 before \\citep{smith2020probe}.")
    runner, app = CliRunner(), build_app()

    def check(path: Path, *options: str):
        return runner.invoke(app, ["check", str(path), *options], env={"COLUMNS": "200"})

    default = check(run_dir)
    assert default.exit_code == 0, default.output
    assert "integrity check passed: 0 error(s), 1 warning(s)" in default.output
    strict = check(run_dir, "--strict")
    assert strict.exit_code == 1, strict.output
    assert "integrity check FAILED (--strict: warnings fail too): 0 error(s), 1 warning(s)" in strict.output
    assert json.loads((run_dir / "report" / "integrity.json").read_text())["ok"] is True  # the report's own verdict
    as_json = check(run_dir, "--strict", "--json")
    assert as_json.exit_code == 1 and json.loads(as_json.output)["warnings"] == 1
    clean = _run(tmp_path / "clean", "The MLP reaches 0.873 dev accuracy \\citep{smith2020probe}.")
    assert check(clean, "--strict").exit_code == 0
