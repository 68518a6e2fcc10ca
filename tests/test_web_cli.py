"""`labcoat serve`, and a co-pilot run without a terminal waiting for the dashboard's answer."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from labcoat.cli import build_app
from labcoat.store import RunStore, gates
from labcoat.workflow import Phase, Workflow
from tests.test_web_support import finished_run, wait_for

LABCOAT = Path(sys.executable).with_name("labcoat")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_binds_loopback_and_serves_the_runs(tmp_path: Path) -> None:
    finished_run(tmp_path, "done-run", turns=7, nodes=0, report=False)
    port = _free_port()
    proc = subprocess.Popen([str(LABCOAT), "serve", "--runs", str(tmp_path), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "COLUMNS": "200"})
    try:
        page = wait_for(lambda: _get(f"http://127.0.0.1:{port}/"), timeout=30, every=0.2)
        assert page.status_code == 200 and "done-run" in page.text
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    assert f"open http://127.0.0.1:{port}/" in out
    assert "token" not in out  # loopback needs none


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=2)
    except httpx.TransportError:
        return None


def test_serve_refuses_a_bad_port(tmp_path: Path) -> None:
    result = subprocess.run([str(LABCOAT), "serve", "--runs", str(tmp_path), "--port", "70000"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "--port must be between 1 and 65535" in result.stderr


@pytest.fixture
def copilot_cli(monkeypatch: pytest.MonkeyPatch, runs_dir: Path):
    seen: list[list[str]] = []

    def plan(ctx):
        seen.append(ctx.phase_notes())
        return {"question": "q", "attempt": ctx.attempt}

    monkeypatch.setattr("labcoat.cli.run_cmds._workflow_factory",
                        lambda: (lambda cfg: Workflow([Phase("plan_formulation", plan)])))
    monkeypatch.setattr("labcoat.cli.run_cmds._attach", lambda: None)
    monkeypatch.setenv("COLUMNS", "200")
    return CliRunner(), build_app(), seen


def test_copilot_run_without_a_terminal_waits_for_the_dashboard(copilot_cli, runs_dir: Path,
                                                                tmp_path: Path) -> None:
    runner, app, seen = copilot_cli
    config = tmp_path / "config.yaml"
    config.write_text("topic: gate from the browser\ncopilot:\n  enabled: true\n  wait_for_dashboard: true\n",
                      encoding="utf-8")
    result: dict = {}
    thread = threading.Thread(target=lambda: result.update(r=runner.invoke(app, ["run", str(config)])),
                              daemon=True)
    thread.start()

    def pending() -> tuple[Path, gates.GateRow] | None:
        for db in runs_dir.glob("*/run.db"):
            with RunStore(db.parent, readonly=True) as store:
                if gates.has_table(store.db):
                    rows = gates.pending(store.db)
                    if rows:
                        return db.parent, rows[0]
        return None

    run_dir, row = wait_for(pending, timeout=30)
    with RunStore(run_dir) as store:  # what the dashboard's POST does
        assert gates.answer(store.db, row.key, {"decision": "revise", "notes": "narrow the question"},
                            "dashboard")
    _, second = wait_for(lambda: (lambda p: p if p and p[1].key != row.key else None)(pending()), timeout=30)
    with RunStore(run_dir) as store:
        assert gates.answer(store.db, second.key, {"decision": "approve", "notes": ""}, "dashboard")
    thread.join(30)
    out = result["r"].output
    assert result["r"].exit_code == 0, out
    assert "plan formulation awaits approval" in out and "labcoat serve --runs" in out
    assert "is finished" in out
    assert seen == [[], ["narrow the question"]]


def test_copilot_run_without_a_terminal_pauses_and_takes_a_dashboard_answer_on_resume(
        copilot_cli, runs_dir: Path, tmp_path: Path) -> None:
    runner, app, seen = copilot_cli
    config = tmp_path / "config.yaml"
    config.write_text("topic: gate while away\ncopilot:\n  enabled: true\n", encoding="utf-8")
    first = runner.invoke(app, ["run", str(config)])
    assert first.exit_code == 3, first.output          # paused, not waiting forever, not failed
    assert "awaits approval" in first.output and "labcoat resume" in first.output
    (run_dir,) = [db.parent for db in runs_dir.glob("*/run.db")]
    with RunStore(run_dir) as store:                   # answered in the dashboard while nothing runs
        (row,) = gates.pending(store.db)
        assert gates.answer(store.db, row.key, {"decision": "approve", "notes": ""}, "dashboard")
    again = runner.invoke(app, ["resume", str(run_dir)])
    assert again.exit_code == 0 and "is finished" in again.output, again.output
    assert seen == [[], []]
