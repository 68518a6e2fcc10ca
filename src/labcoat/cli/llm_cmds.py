"""`labcoat cost RUN` and `labcoat models`: what a run spent, and which models can be used."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from labcoat.cli.output import console, dollars
from labcoat.store import find_run, open_store

# labcoat.llm is imported by the commands: its package loads pydantic, which every
# `labcoat` invocation (--help included) would otherwise pay for.


def register(app: typer.Typer) -> None:
    @app.command()
    def cost(
        run_ref: str = typer.Argument(..., metavar="RUN", help="run id or directory"),
        runs_dir: Optional[Path] = typer.Option(None, "--runs", help="folder of runs"),
        as_json: bool = typer.Option(False, "--json", help="print the totals as JSON"),
    ) -> None:
        """LLM spend of a run: calls, tokens and dollars by phase, role and model."""
        from labcoat.llm.ledger import cache_share, summarise

        directory = find_run(run_ref, runs_dir)
        with open_store(directory, readonly=True) as store:
            run_id = store.info().id
            summary = summarise(store.ledger())
        if as_json:
            typer.echo(json.dumps({"run": run_id, **summary}, indent=2))
            return
        out = console()
        total = summary["total"]
        out.print(f"[bold]{escape(run_id)}[/]: {total['calls']} LLM calls, {dollars(total['dollars'])}, "
                  f"{total['input_tokens']:,} input tokens ({total['cached_tokens']:,} read from the provider's "
                  f"cache{_share(cache_share(total))}, {total['cache_write_tokens']:,} written to it), "
                  f"{total['output_tokens']:,} output ({total['reasoning_tokens']:,} reasoning)")
        if not total["calls"]:
            out.print("no LLM calls recorded (replayed calls cost nothing and are not listed)")
            return
        spent = {name: summary["spender"].get(name, {"calls": 0, "dollars": 0}) for name in ("agents", "experiments")}
        out.print(f"agents {dollars(spent['agents']['dollars'])} ({spent['agents']['calls']} calls); experiment "
                  f"programs {dollars(spent['experiments']['dollars'])} ({spent['experiments']['calls']} calls "
                  "through the model gateway)")
        # Columns that are zero for the whole run (no cache writes off Anthropic, no reasoning tokens off
        # reasoning models) are left out: the tables then fit an 80-column terminal.
        columns = [("calls", lambda t: str(t["calls"])), ("input", lambda t: f"{t['input_tokens']:,}"),
                   ("cached", lambda t: f"{t['cached_tokens']:,}{_share(cache_share(t))}")]
        columns += [("cache writes", lambda t: f"{t['cache_write_tokens']:,}")] if total["cache_write_tokens"] else []
        columns += [("output", lambda t: f"{t['output_tokens']:,}")]
        columns += [("reasoning", lambda t: f"{t['reasoning_tokens']:,}")] if total["reasoning_tokens"] else []
        columns += [("dollars", lambda t: dollars(t["dollars"])), ("seconds", lambda t: f"{t['latency_s']:.1f}")]
        for group in ("phase", "role", "model", "program"):
            if not summary[group]:
                continue
            table = Table(title=f"by {group}", title_justify="left", box=None, pad_edge=False)
            table.add_column(group)
            for name, _ in columns:
                table.add_column(name, justify="right")
            for name, t in sorted(summary[group].items(), key=lambda kv: -kv[1]["dollars"]):
                table.add_row(escape(name), *(cell(t) for _, cell in columns))
            out.print(table)

    @app.command()
    def models(as_json: bool = typer.Option(False, "--json", help="print the list as JSON")) -> None:
        """Provider presets: base URL, key variable (set or not), and known models with prices per million tokens."""
        from labcoat.llm.presets import KNOWN_MODELS, PRESETS, ModelRef, base_url_for
        from labcoat.llm.pricing import Pricer

        env = os.environ
        pricer = Pricer()
        rows = []
        for preset in PRESETS.values():
            key_set = bool(preset.key_env and env.get(preset.key_env, "").strip())
            for name in KNOWN_MODELS.get(preset.name, ()):
                price = pricer.per_mtok(ModelRef(preset, name))
                rows.append({"model": f"{preset.name}:{name}", "base_url": base_url_for(preset, {}, env) or "(embedded)",
                             "key_env": preset.key_env, "key_set": key_set, "key_needed": not preset.key_optional,
                             "input_per_mtok": price[0] if price else None,
                             "output_per_mtok": price[1] if price else None})
        if as_json:
            typer.echo(json.dumps(rows, indent=2))
            return
        presets = Table(title="providers", title_justify="left", box=None, pad_edge=False)
        for name in ("preset", "key", "base URL"):
            presets.add_column(name, no_wrap=name != "base URL", overflow="fold")
        seen: set[str] = set()
        for r in rows:
            preset = r["model"].split(":", 1)[0]
            if preset in seen:
                continue
            seen.add(preset)
            key = "not needed" if not r["key_needed"] else f"{r['key_env']} {'set' if r['key_set'] else 'missing'}"
            presets.add_row(preset, key, escape(r["base_url"]))
        table = Table(title="models ($ per million tokens)", title_justify="left", box=None, pad_edge=False)
        table.add_column("model", no_wrap=True)
        table.add_column("input", justify="right", no_wrap=True)
        table.add_column("output", justify="right", no_wrap=True)
        for r in rows:
            price_in = "-" if r["input_per_mtok"] is None else f"{r['input_per_mtok']:.2f}"
            price_out = "-" if r["output_per_mtok"] is None else f"{r['output_per_mtok']:.2f}"
            table.add_row(escape(r["model"]), price_in, price_out)
        out = console()
        out.print(presets)
        out.print(table)
        out.print("Any other model the provider serves works as provider:model; local models cost $0 "
                  "(set `prices` in the config to count them).")


def _share(share: float | None) -> str:
    return "" if share is None else f" ({share:.0%})"
