"""`labcoat status`, `labcoat runs`, `labcoat show`: read a run, never change it."""

from __future__ import annotations

import difflib
import json
import time
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.console import Console
from rich.table import Table

from labcoat.cli.output import age, console, dollars
from labcoat.store import find_run, list_runs, open_store
from labcoat.store.runstore import RunInfo, runs_root


def register(app: typer.Typer) -> None:
    @app.command()
    def runs(
        runs_dir: Optional[Path] = typer.Option(None, "--runs", help="folder of runs (default: $LABCOAT_RUNS or ./runs)"),
    ) -> None:
        """List runs: id, topic, phase, state, cost, age."""
        rows = []
        for item in list_runs(runs_dir):
            if isinstance(item, RunInfo):
                with open_store(item.run_dir, readonly=True) as store:
                    spent = store.dollars_spent()
                topic = item.topic
                if (item.run_dir.parent / "labs.json").exists():  # runs of one lab group list together
                    topic = f"[group {item.run_dir.parent.name}] {topic}"
                rows.append((item.id, topic, item.phase or "-", item.shown_state, dollars(spent),
                             age(item.created_at)))
            else:
                path, error = item
                rows.append((path.name, f"unreadable: {error}", "-", "?", "-", "-"))
        out = console()
        if not rows:
            out.print(_no_runs(runs_dir), soft_wrap=True)
            return
        _print_runs(out, rows)

    @app.command()
    def status(
        run_ref: Optional[str] = typer.Argument(None, metavar="[RUN]", help="run id or directory (default: newest run)"),
        runs_dir: Optional[Path] = typer.Option(None, "--runs", help="folder of runs"),
    ) -> None:
        """Where a run is: state, phase, spend, effects recorded, and how to continue it."""
        out = console()
        directory = _pick(run_ref, runs_dir)
        if directory is None:  # no runs yet is a fresh start, not an error (as in `labcoat runs`)
            out.print(_no_runs(runs_dir), soft_wrap=True)
            return
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
        from labcoat.config.names import PHASES, normalise_phase

        directory = find_run(run_ref, runs_dir)
        wanted = normalise_phase(phase) if phase else None
        if wanted is not None and wanted not in PHASES:
            hint = difflib.get_close_matches(wanted, PHASES, n=1)
            raise typer.BadParameter(f"unknown phase '{phase}'" + (f"; did you mean '{hint[0]}'?" if hint else
                                     f"; phases: {', '.join(PHASES)}"), param_hint="--phase")
        out = console()
        with open_store(directory, readonly=True) as store:
            events = store.events(phase=wanted)
            if as_json:
                for ev in events:
                    out.print(json.dumps(ev, ensure_ascii=False), soft_wrap=True, markup=False)
                return
            from labcoat.store.transcript import render_event, render_phase_extra

            for ev in events:
                out.print(render_event(ev), soft_wrap=True)
            extra = render_phase_extra(store, wanted)
            if extra is not None:
                out.print(extra)
            # The process log belongs to the whole run: shown with the full transcript only.
            for entry in (store.lifecycle() if wanted is None else []):
                stamp = time.strftime("%H:%M:%S", time.localtime(entry["ts"]))
                out.print(f"[dim]{stamp} run {entry['kind']}: {escape(entry['message'])}[/]", soft_wrap=True)
                if entry["kind"] == "failed" and entry["payload"].get("traceback"):
                    out.print(escape(entry["payload"]["traceback"].rstrip()), soft_wrap=True, style="dim")


def _print_runs(out: Console, rows: list[tuple[str, ...]]) -> None:
    """A table when the terminal is wide enough for whole ids, else two lines per run.

    The id is what people copy into `labcoat resume`, so it is never cut; the topic is.
    """
    headers = ("id", "topic", "phase", "state", "cost", "age")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    borders = 3 * len(headers) + 1
    topic_room = out.width - borders - sum(w for i, w in enumerate(widths) if i != 1)
    if topic_room >= 12:
        table = Table(*headers)
        for row in rows:
            cells = [escape(c) for c in row]
            cells[1] = escape(_cut(row[1], topic_room))
            table.add_row(*cells)
        out.print(table)
        return
    for run_id, topic, phase, state, cost, old in rows:
        out.print(f"[bold]{escape(run_id)}[/]")
        out.print(escape(_cut(f"  {state} · phase {phase} · {cost} · {old} old · {topic}", out.width)))


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def _no_runs(runs_dir: Path | None) -> str:
    return f"no runs under {escape(str(runs_root(runs_dir).resolve()))}; start one with `labcoat run CONFIG.yaml`"


def _pick(run_ref: str | None, runs_dir: Path | None) -> Path | None:
    """The named run (an error when there is none), else the newest readable run, else None."""
    if run_ref:
        return find_run(run_ref, runs_dir)
    found = list_runs(runs_dir)
    infos = [i for i in found if isinstance(i, RunInfo)]
    if infos:
        return max(infos, key=lambda i: i.created_at).run_dir
    unreadable = [i for i in found if isinstance(i, tuple)]
    if unreadable:  # runs exist but none can be read: a problem to show, not "no runs"
        from labcoat.errors import RunNotFound

        path, error = unreadable[0]
        raise RunNotFound(f"no readable run under {runs_root(runs_dir).resolve()}: {path} is unreadable ({error}); "
                          "`labcoat runs` lists them")
    return None
