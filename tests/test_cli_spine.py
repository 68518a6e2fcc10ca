"""The spine's commands: run, resume, status, runs, show, doctor.

In-process through typer's CliRunner with the test pipeline as the workflow,
and as real `labcoat` subprocesses for exit codes and error lines.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from labcoat.cli import build_app
from labcoat.errors import BudgetExceeded
from labcoat.run.runner import create_run, execute
from labcoat.store import RunStore
from labcoat.workflow import Phase, Workflow
from tests.support import pipeline_app

LABCOAT = Path(sys.executable).with_name("labcoat")


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, runs_dir: Path, tmp_path: Path):
    """A CliRunner whose `run`/`resume` drive the test pipeline instead of the real phases."""
    log = pipeline_app.CounterLog(tmp_path / "counter.log", 0.0)
    monkeypatch.setattr("labcoat.cli.run_cmds._workflow_factory", lambda: pipeline_app.build_workflow(log))
    monkeypatch.setattr("labcoat.cli.run_cmds._attach", lambda: None)
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    app = build_app()
    yield lambda *args: runner.invoke(app, [str(a) for a in args])
    os.close(log.fd)


def _config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "config.yaml"
    path.write_text("research-topic: pipeline test\ncopilot-mode: false\nphases: []\n"
                    "budget:\n  mle_candidates: 3\n  dollars: 1\n" + extra, encoding="utf-8")
    return path


def _only_run(runs_dir: Path) -> Path:
    [run_dir] = [p.parent for p in runs_dir.glob("*/run.db")]
    return run_dir


def test_run_status_runs_show_and_resume_of_a_finished_run(cli, runs_dir: Path, tmp_path: Path) -> None:
    result = cli("run", _config(tmp_path))
    assert result.exit_code == 0, result.output
    run_dir = _only_run(runs_dir)
    assert "is finished: finished: 31 effects live, 0 replayed" in result.output
    assert f"resume any time with: labcoat resume {run_dir}" in result.output
    assert "plan formulation" in result.output  # live progress shows the phases

    status = cli("status")
    assert status.exit_code == 0
    assert "state: finished" in status.output and "31 effects recorded" in status.output
    assert "continue with" not in status.output

    listing = cli("runs")
    assert run_dir.name in listing.output and "finished" in listing.output

    shown = cli("show", run_dir.name)
    assert shown.exit_code == 0
    assert "── running_experiments done" in shown.output
    assert "run finished: finished: 31 effects live" in shown.output
    lines = cli("show", run_dir.name, "--phase", "plan-formulation", "--json").output.splitlines()
    events = [json.loads(line) for line in lines]
    assert events and {e["phase"] for e in events} == {"plan_formulation"}
    assert [e["pos"] for e in events] == sorted(e["pos"] for e in events)
    assert sum(e["kind"] == "agent_turn" for e in events) == 4

    with RunStore(run_dir, readonly=True) as store:
        before = store.lifecycle()
    again = cli("resume", run_dir.name[:12])
    assert again.exit_code == 0
    assert "already finished: nothing to resume" in again.output
    with RunStore(run_dir, readonly=True) as store:
        assert store.lifecycle() == before


def _pipeline_then_budget_check(tmp_path: Path):
    log = pipeline_app.CounterLog(tmp_path / "budget.log", 0.0)

    def check_budget(ctx):
        if (ctx.config.budget.dollars or 0) < 10:
            raise BudgetExceeded("the dollar cap is reached", hint="raise it with --set budget.dollars=20")
        return {"ok": True}

    def factory(config):
        phases = pipeline_app.build_workflow(log)(config).phases
        return Workflow([*phases, Phase("report_writing", check_budget)])
    return factory


def test_a_paused_run_exits_non_zero_says_how_to_resume_then_resumes(cli, monkeypatch, runs_dir: Path,
                                                                      tmp_path: Path) -> None:
    monkeypatch.setattr("labcoat.cli.run_cmds._workflow_factory", lambda: _pipeline_then_budget_check(tmp_path))
    result = cli("run", _config(tmp_path))
    run_dir = _only_run(runs_dir)
    assert result.exit_code == 3, result.output
    assert "is paused: the dollar cap is reached — raise it with --set budget.dollars=20" in result.output
    assert f"continue with: labcoat resume {run_dir}" in result.output
    status = cli("status", run_dir)
    assert "state: paused" in status.output and "continue with: labcoat resume" in status.output

    still = cli("resume", run_dir)
    assert still.exit_code == 3 and "is paused" in still.output
    resumed = cli("resume", run_dir, "--set", "budget.dollars=20")
    assert resumed.exit_code == 0, resumed.output
    assert "finished: 0 effects live, 31 replayed" in resumed.output


def test_a_failed_run_exits_1_and_show_has_the_traceback(cli, monkeypatch, runs_dir: Path, tmp_path: Path) -> None:
    def broken(ctx):
        raise RuntimeError("disk full [red]not markup[/red]")

    monkeypatch.setattr("labcoat.cli.run_cmds._workflow_factory",
                        lambda: lambda config: Workflow([Phase("literature_review", broken)]))
    result = cli("run", _config(tmp_path))
    run_dir = _only_run(runs_dir)
    assert result.exit_code == 1
    assert "is failed: RuntimeError: disk full [red]not markup[/red]" in result.output
    assert f"continue with: labcoat resume {run_dir}" in result.output
    shown = cli("show", run_dir)
    assert "Traceback (most recent call last)" in shown.output
    assert 'raise RuntimeError("disk full [red]not markup[/red]")' in shown.output


def test_show_prints_agent_text_literally(cli, runs_dir: Path) -> None:
    run_dir = create_run(pipeline_app.config("a [bold]topic[/bold]"), runs=runs_dir)

    def talk(ctx):
        ctx.emit("agent_turn", {"role": "phd", "text": "see [link=http://x]this[/link] and [/] C:\\path\\"})
        ctx.emit("custom_kind", {"note": "[italic]kept[/italic]"})
        ctx.warn("[blink]careful[/blink]")
        return {}

    execute(run_dir, lambda config: Workflow([Phase("literature_review", talk)]))
    shown = cli("show", run_dir).output
    assert "phd › see [link=http://x]this[/link] and [/] C:\\path\\" in shown
    assert "custom kind note: [italic]kept[/italic]" in shown
    assert "warning: [blink]careful[/blink]" in shown
    assert "a [bold]topic[/bold]" in cli("status", run_dir).output
    typo = cli("show", run_dir, "--phase", "literature-reveiw")
    assert typo.exit_code == 2 and "did you mean 'literature_review'?" in typo.output


def test_runs_lists_whole_ids_even_in_a_narrow_terminal(cli, monkeypatch, runs_dir: Path) -> None:
    ids = [create_run(pipeline_app.config(f"topic number {i} " + "long words " * 10), runs=runs_dir).name
           for i in range(2)]
    (runs_dir / "broken").mkdir()
    (runs_dir / "broken" / "run.db").write_bytes(b"not a database" * 50)
    for columns in ("70", "200"):
        monkeypatch.setenv("COLUMNS", columns)
        out = cli("runs").output
        for run_id in ids:
            assert run_id in out
        assert "unreadable" in out
        assert max(len(line) for line in out.splitlines()) <= int(columns)


def _sh(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(LABCOAT), *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "200", **(env or {})}, cwd=cwd)


def test_cli_subprocess_run_and_inspect(tmp_path: Path) -> None:
    config = tmp_path / "empty.yaml"
    config.write_text("topic: an empty pipeline\nphases: []\n")
    env = {"LABCOAT_RUNS": str(tmp_path / "runs")}
    run = _sh("run", str(config), "--set", "budget.dollars=1.5", env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "is finished" in run.stdout and "Traceback" not in run.stderr
    run_dir = _only_run(tmp_path / "runs")
    with RunStore(run_dir, readonly=True) as store:
        assert store.config()["budget"]["dollars"] == 1.5
        assert [e["kind"] for e in store.events()] == ["run_start", "run_end"]
    status = _sh("status", env=env)
    assert status.returncode == 0 and "state: finished" in status.stdout
    assert run_dir.name in _sh("runs", env=env).stdout
    shown = _sh("show", run_dir.name, "--json", env=env)
    assert [json.loads(line)["kind"] for line in shown.stdout.splitlines()] == ["run_start", "run_end"]
    again = _sh("resume", str(run_dir), env=env)
    assert again.returncode == 0 and "already finished" in again.stdout


def test_cli_subprocess_errors_are_one_line_with_exit_codes(tmp_path: Path) -> None:
    env = {"LABCOAT_RUNS": str(tmp_path / "runs")}
    missing = _sh("status", "no-such-run", env=env)
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: no run 'no-such-run'") and "Traceback" not in missing.stderr
    assert f"under {(tmp_path / 'runs').resolve()}" in missing.stderr  # it says where it looked
    usage = _sh("show", env=env)
    assert usage.returncode == 2 and "Missing argument 'RUN'" in usage.stderr
    bad_set = _sh("run", str(tmp_path / "absent.yaml"), env=env)
    assert bad_set.returncode == 2 and "absent.yaml: no such file" in bad_set.stderr


def test_cli_subprocess_no_runs_is_not_an_error_for_status_or_runs(tmp_path: Path) -> None:
    root = tmp_path / "nothing here"
    env = {"LABCOAT_RUNS": str(root)}
    expected = f"no runs under {root.resolve()}; start one with `labcoat run CONFIG.yaml`"
    for command in ("status", "runs"):
        done = _sh(command, env=env)
        assert (done.returncode, done.stdout.strip(), done.stderr) == (0, expected, ""), command
    root.mkdir()
    (root / "broken").mkdir()
    (root / "broken" / "run.db").write_bytes(b"not a database" * 50)
    unreadable = _sh("status", env=env)  # a run that exists but cannot be read is not "no runs"
    assert unreadable.returncode == 1 and "Traceback" not in unreadable.stderr
    assert unreadable.stderr.startswith(f"error: no readable run under {root.resolve()}: {root / 'broken'} is unreadable")


def test_cli_subprocess_status_of_a_killed_run_says_stopped(tmp_path: Path) -> None:
    run_dir, counter = tmp_path / "runs" / "killed", tmp_path / "counter.log"
    proc = subprocess.Popen([sys.executable, pipeline_app.__file__, str(run_dir), str(counter), "--create",
                             "--delay", "0.05"], stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while "end " not in (counter.read_text() if counter.exists() else ""):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    status = _sh("status", str(run_dir))
    assert "state: stopped" in status.stdout
    assert f"continue with: labcoat resume {run_dir}" in status.stdout


def test_cli_subprocess_doctor_reports_keys_without_their_values(tmp_path: Path) -> None:
    secret = "sk-doctor-test-0123456789"
    doctor = _sh("doctor", env={"OPENAI_API_KEY": secret})
    assert doctor.returncode in (0, 1), doctor.stderr
    assert "Traceback" not in doctor.stderr
    assert secret not in doctor.stdout + doctor.stderr
    for check in ("python", "bubblewrap", "latex"):
        assert check in doctor.stdout.lower()
    assert "set: OpenAI" in doctor.stdout
    if doctor.returncode == 1:
        assert "check(s) failed" in doctor.stdout and "fix:" in doctor.stdout


def test_help_explains_every_command() -> None:
    out = _sh("--help").stdout
    for command in ("run", "resume", "status", "runs", "show", "doctor"):
        assert command in out
    assert "--set" in _sh("run", "--help").stdout
