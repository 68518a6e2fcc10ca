"""`labcoat run` and `labcoat resume`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from labcoat.cli.output import console
from labcoat.store import find_run, open_store

# The config models, the runner and what they import are loaded by the commands that use
# them: at module level they would slow every `labcoat` invocation, --help included.


def _finish(run_dir: Path, failed: bool = False) -> None:
    with open_store(run_dir, readonly=True) as store:
        info = store.info()
    out = console()
    colour = {"finished": "green", "paused": "yellow", "failed": "red"}.get(info.state, "")
    state = f"[{colour}]{info.state}[/]" if colour else info.state
    out.print(f"run [bold]{escape(info.id)}[/] is {state}: {escape(info.message or '')}")
    out.print(f"run directory: {escape(str(run_dir))}")
    if failed:
        out.print(f"the error's traceback: labcoat show {escape(str(run_dir))}")
    if info.state in ("paused", "failed"):
        out.print(f"continue with: labcoat resume {escape(str(run_dir))}")
        raise typer.Exit(3 if info.state == "paused" else 1)


def _run_group(group) -> None:
    from labcoat.run.labs import run_group

    out = console()
    outcomes = run_group(group, say=lambda text: out.print(escape(text)))
    states = [state for o in outcomes for _, state in o.runs]
    done = len(states) == group.labs * group.papers and all(s == "finished" for s in states)
    out.print(f"lab group {escape(group.name)}: " + ("finished" if done else
              f"not finished ({', '.join(states) or 'nothing ran'}); continue with: labcoat resume "
              f"{escape(str(group.root))}"))
    if not done:
        raise typer.Exit(3)


def _workflow_factory():
    from labcoat.phases import default_workflow

    return default_workflow


def _attach():
    from labcoat.run.services import attach

    return attach


def register(app: typer.Typer) -> None:
    @app.command()
    def run(
        config: Path = typer.Argument(..., help="research config (YAML); Agent Laboratory configs work as they are"),
        set_: list[str] = typer.Option([], "--set", help="override a config value, e.g. --set budget.dollars=5"),
        run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="where to keep this run (default: runs/<id>)"),
        runs: Optional[Path] = typer.Option(None, "--runs", help="folder of runs (default: $LABCOAT_RUNS or ./runs)"),
    ) -> None:
        """Start a research run from a config, with live progress in the terminal."""
        from labcoat.cli.config_keys import load_run_config, require_keys
        from labcoat.run.runner import create_run

        cfg = load_run_config(config, overrides=set_)
        require_keys(cfg)
        out = console()
        if cfg.labs > 1 or cfg.papers_to_write > 1:
            from labcoat.run.labs import create_group
            from labcoat.run.runner import new_run_id
            from labcoat.store.runstore import runs_root

            group = create_group(cfg, run_dir or runs_root(runs) / new_run_id(cfg.topic))
            out.print(f"lab group: {escape(str(group.root))}  (resume any time with: labcoat resume "
                      f"{escape(str(group.root))})")
            _run_group(group)
            return
        from labcoat.run.estimate import describe

        model = cfg.models.default
        if model == "auto":
            from labcoat.llm.auto import resolve_auto

            model = resolve_auto().model
        out.print(f"[dim]{escape(describe(cfg, model))}[/]")
        directory = create_run(cfg, run_dir=run_dir, runs=runs)
        out.print(f"run directory: {escape(str(directory))}  (resume any time with: labcoat resume {escape(str(directory))})")
        _execute(directory, resumed=False)

    @app.command()
    def resume(
        run_ref: str = typer.Argument(..., metavar="RUN", help="run id, id prefix, or run directory"),
        set_: list[str] = typer.Option([], "--set", help="change a config value first, e.g. --set budget.dollars=20"),
        runs: Optional[Path] = typer.Option(None, "--runs", help="folder of runs (default: $LABCOAT_RUNS or ./runs)"),
    ) -> None:
        """Continue a stopped, paused, failed or killed run: finished work is replayed from the store at no cost."""
        from labcoat.run.labs import is_group, load_group
        from labcoat.store.runstore import runs_root

        for candidate in (Path(run_ref), runs_root(runs) / run_ref):
            if is_group(candidate):
                if set_:
                    raise typer.BadParameter("--set applies to one run; resume the lab's run directory instead")
                from labcoat.cli.config_keys import require_keys
                from labcoat.config.loading import validate_config

                group = load_group(candidate)
                require_keys(validate_config(group.config, source=str(candidate)))
                _run_group(group)
                return
        directory = find_run(run_ref, runs)
        with open_store(directory, readonly=True) as store:
            info = store.info()
        if info.state == "finished" and not set_:
            console().print(f"run [bold]{escape(info.id)}[/] is already finished: nothing to resume "
                            f"(see it with `labcoat show {directory}`; `--set` changes the config and continues)")
            return
        _execute(directory, resumed=True, overrides=set_)

    def _execute(directory: Path, *, resumed: bool, overrides: list[str] | None = None) -> None:
        from labcoat.cli.gate_terminal import TerminalGate
        from labcoat.cli.progress import ConsoleProgress
        from labcoat.workflow.gates import default_gate
        from labcoat.run.runner import execute

        from labcoat.cli.config_keys import require_keys
        from labcoat.config.loading import apply_set, parse_set, validate_config

        out = console()
        with open_store(directory, readonly=True) as store:
            cfg = store.config()
        if overrides:
            cfg = apply_set(cfg, parse_set(overrides))  # so `resume --set copilot.enabled=true` takes effect
        if resumed:
            require_keys(validate_config(cfg, source=str(directory / "run.db")))
        copilot = cfg.get("copilot", {})
        gate = default_gate(copilot.get("enabled", False), copilot.get("auto_approve", False),
                            interactive=lambda: TerminalGate(out))
        if copilot.get("enabled", False) and not copilot.get("auto_approve", False):
            # Answerable from the terminal (when there is one) or the dashboard, first answer wins.
            from labcoat.workflow.store_gate import StoreGate

            interactive = isinstance(gate, TerminalGate)
            # Without a terminal the run pauses at an unanswered gate (an answer given in the
            # dashboard meanwhile is used on resume), unless the config says to wait for one.
            wait = None if interactive or copilot.get("wait_for_dashboard", False) else 0.0
            gate = StoreGate(directory, terminal=gate if interactive else None,
                             notify=lambda text: out.print(text, markup=False, highlight=False),
                             hint=f"Answer it in the dashboard: labcoat serve --runs {directory.parent}",
                             timeout_s=wait)
        ctx = execute(directory, _workflow_factory(), gate=gate, progress=ConsoleProgress(out),
                      attach=_attach(), overrides=overrides, resumed=resumed)
        _finish(directory, failed=ctx.failure is not None)
