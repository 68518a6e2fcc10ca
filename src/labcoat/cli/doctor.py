"""`labcoat doctor`: is this machine ready for research runs?"""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from labcoat.cli.output import console


def register(app: typer.Typer) -> None:
    @app.command()
    def doctor(
        network: bool = typer.Option(False, "--network", help="also check that arXiv and the Hugging Face Hub answer"),
    ) -> None:
        """Check Python, the sandbox, LaTeX, provider keys (never printed), the local model and the experiment environment."""
        from labcoat.run.readiness import run_checks

        results = run_checks(network=network)
        table = Table("check", "status", "detail")
        failed = 0
        for check in results:
            mark = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "fail": "[red]FAIL[/]"}[check.status]
            detail = escape(check.detail) + (f"\n[bold]fix:[/] {escape(check.fix)}"
                                             if check.fix and check.status != "ok" else "")
            table.add_row(escape(check.name), mark, detail)
            failed += check.status == "fail"
        out = console()
        out.print(table)
        if failed:
            out.print(f"[red]{failed} check(s) failed[/]; each shows its fix above")
            raise typer.Exit(1)
