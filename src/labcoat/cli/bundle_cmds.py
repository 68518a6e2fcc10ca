"""`labcoat export` and `labcoat reproduce`: a run's reproducibility bundle, written and re-run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from labcoat.cli.output import console, err_console
from labcoat.errors import ConfigError, LabcoatError


def register(app: typer.Typer) -> None:
    @app.command()
    def export(
        run_ref: str = typer.Argument(..., metavar="RUN", help="run id or directory"),
        out: Optional[Path] = typer.Option(None, "--out", help="a folder, or a file ending in .zip "
                                           "(default: RUN/bundle/labcoat-bundle-ID.zip)"),
        max_copy_mb: float = typer.Option(64.0, "--max-copy-mb", help="copy input folders up to this size; "
                                          "larger public data is referenced by source and hashes"),
        tolerance: float = typer.Option(0.0, "--tolerance", help="absolute tolerance for re-run metrics "
                                        "(0: exact, for deterministic programs)"),
        runs_dir: Optional[Path] = typer.Option(None, "--runs", help="folder of runs"),
    ) -> None:
        """Write the run's reproducibility bundle: paper, programs, inputs by sha256, environment, RO-Crate."""
        from labcoat.bundle.export import default_out, export_run
        from labcoat.store import find_run, open_store

        if tolerance < 0 or max_copy_mb < 0:
            raise ConfigError("--tolerance and --max-copy-mb must be zero or more")
        run_dir = find_run(run_ref, runs_dir)
        with open_store(run_dir, readonly=True) as store:
            info = store.info()
        if info.alive:
            raise LabcoatError(f"run {info.id} is still running (pid {info.pid}); export it when it has stopped")
        out_path = out or default_out(run_dir, info.id)
        if info.state != "finished":
            err_console().print(f"note: run {escape(info.id)} is {info.state}; the bundle holds what it recorded so far")
        result = export_run(run_dir, out_path, max_copy_mb=max_copy_mb, tolerance=tolerance)
        con = console()
        con.print(f"bundle: {escape(str(result.path))}")
        con.print(f"{len(result.programs)} programs ({', '.join(result.programs)}), {result.claims} stated numbers "
                  f"traced to them, {result.copied_bytes / 1e6:.1f} MB of data copied"
                  + (f", {len(result.referenced)} input(s) referenced by source" if result.referenced else ""))
        for warning in result.warnings:
            con.print(f"[yellow]warning:[/] {escape(warning)}")
        con.print(f"re-run it with: labcoat reproduce {escape(str(result.path))}")

    @app.command()
    def reproduce(
        bundle: Path = typer.Argument(..., metavar="BUNDLE", help="a bundle folder or .zip from `labcoat export`"),
        live_models: bool = typer.Option(False, "--live-models", help="ask the models again instead of "
                                         "serving recorded model calls from the bundle's replay log (keys and base URLs "
                                         "as for a run)"),
        workdir: Optional[Path] = typer.Option(None, "--workdir", help="where programs re-run (default: a new "
                                               "temporary folder)"),
        data: list[str] = typer.Option([], "--data", help="NAME=DIR: a data set the bundle references, "
                                       "fetched by you (repeatable)"),
        python: Optional[str] = typer.Option(None, "--python", help="the interpreter programs run with "
                                             "(default: labcoat's)"),
        as_json: bool = typer.Option(False, "--json", help="print the comparison as JSON"),
    ) -> None:
        """Re-run a bundle's programs in the sandbox and compare every number the paper states."""
        from labcoat.bundle.compare import table
        from labcoat.bundle.reproduce import reproduce as run_reproduce

        dirs = {}
        for item in data:
            name, sep, folder = item.partition("=")
            if not sep or not name or not folder:
                raise ConfigError(f"--data {item!r}: expected NAME=DIR, e.g. --data org/dataset=./dataset")
            dirs[name] = Path(folder)
        result = run_reproduce(bundle, workdir=workdir, live_models=live_models, data_dirs=dirs, python=python)
        con = console()
        if as_json:
            con.print_json(json.dumps(result.to_json()))
        else:
            for line in result.drift:
                con.print(f"[yellow]environment drift:[/] {escape(line)}")
            for line in dict.fromkeys(result.warnings):
                con.print(f"[yellow]warning:[/] {escape(line)}")
            for run in result.programs:
                calls = (f", {run.model_calls_served} model calls replayed" if run.model_calls_served else "") + \
                        (f", {run.model_calls_live} asked live" if run.model_calls_live else "")
                con.print(f"{escape(run.name)}: exit {run.exit_code}, {run.duration_s:.1f} s "
                          f"(recorded {run.recorded_duration_s:.1f} s){calls}")
                for note in run.notes:
                    con.print(f"  [yellow]note:[/] {escape(note)}")
            con.print(escape(table(result.rows)))
            matched = sum(r.match for r in result.rows)
            con.print(f"{matched} of {len(result.rows)} stated metrics match; re-run in {escape(str(result.workdir))}")
        if not result.ok:
            raise typer.Exit(1)
