"""`labcoat status`, `labcoat runs`, `labcoat show`: read a run, never change it."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from labcoat.cli.output import age, console, dollars
from labcoat.store import find_run, list_runs, open_store
from labcoat.store.runstore import RunInfo


def register(app: typer.Typer) -> None:
    @app.command()
    def runs(
        runs_dir: Optional[Path] = typer.Option(None, "--runs", help="folder of runs (default: $LABCOAT_RUNS or ./runs)"),
    ) -> None:
        """List runs: id, topic, phase, state, cost, age."""
        table = Table("id", "topic", "phase", "state", "cost", "age")
        found = list_runs(runs_dir)
        for item in found:
            if isinstance(item, RunInfo):
                with open_store(item.run_dir, readonly=True) as store:
                    spent = store.dollars_spent()
                topic = item.topic if len(item.topic) <= 48 else item.topic[:47] + "…"
                table.add_row(escape(item.id), escape(topic), item.phase or "-", item.shown_state, dollars(spent),
                              age(item.created_at))
            else:
                path, error = item
                table.add_row(escape(path.name), f"[red]unreadable: {escape(error)}[/]", "-", "?", "-", "-")
        out = console()
        if not found:
            out.print("no runs yet; start one with `labcoat run CONFIG.yaml`")
            return
        out.print(table)

    @app.command()
    def status(
        run_ref: Optional[str] = typer.Argument(None, metavar="[RUN]", help="run id or directory (default: newest run)"),
        runs_dir: Optional[Path] = typer.Option(None, "--runs", help="folder of runs"),
    ) -> None:
        """Where a run is: state, phase, spend, effects recorded, and how to continue it."""
        directory = _pick(run_ref, runs_dir)
        out = console()
        with open_store(directory, readonly=True) as store:
            info = store.info()
            out.print(f"[bold]{escape(info.id)}[/]  {escape(info.topic)}")
            out.print(f"state: {info.shown_state}   phase: {info.phase or '-'}   started {age(info.created_at)} ago")
            if info.message:
                out.print(f"message: {escape(info.message)}")
            out.print(f"spent: {dollars(store.dollars_spent())}, {store.tokens_spent():,} tokens; "
                      f"{store.effect_count()} effects recorded")
            if info.shown_state in ("paused", "failed", "stopped"):
                out.print(f"continue with: labcoat resume {escape(str(directory))}")

    @app.command()
    def show(
        run_ref: str = typer.Argument(..., metavar="RUN", help="run id or directory"),
        phase: Optional[str] = typer.Option(None, "--phase", help="only this phase, e.g. literature_review"),
        as_json: bool = typer.Option(False, "--json", help="one JSON object per line, for scripts"),
        runs_dir: Optional[Path] = typer.Option(None, "--runs", help="folder of runs"),
    ) -> None:
        """The run's transcript: every event in order (agents' turns, tool calls, results, gates)."""
        from labcoat.phases_names import normalise_phase

        directory = find_run(run_ref, runs_dir)
        wanted = normalise_phase(phase) if phase else None
        out = console()
        with open_store(directory, readonly=True) as store:
            events = store.events(phase=wanted)
            if as_json:
                for ev in events:
                    out.print(json.dumps(ev, ensure_ascii=False), soft_wrap=True, markup=False)
                return
            from labcoat.transcript import render_event, render_phase_extra

            for ev in events:
                out.print(render_event(ev), soft_wrap=True)
            extra = render_phase_extra(store, wanted)
            if extra is not None:
                out.print(extra)
            for entry in store.lifecycle():
                stamp = time.strftime("%H:%M:%S", time.localtime(entry["ts"]))
                out.print(f"[dim]{stamp} run {entry['kind']}: {escape(entry['message'])}[/]", soft_wrap=True)


def _pick(run_ref: str | None, runs_dir: Path | None) -> Path:
    if run_ref:
        return find_run(run_ref, runs_dir)
    infos = [i for i in list_runs(runs_dir) if isinstance(i, RunInfo)]
    if not infos:
        from labcoat.errors import RunNotFound

        raise RunNotFound("no runs yet; start one with `labcoat run CONFIG.yaml`")
    return max(infos, key=lambda i: i.created_at).run_dir
