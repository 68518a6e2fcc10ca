"""The `labcoat` command: one typer app, one module per command group.

Each module in `COMMAND_MODULES` exposes `register(app)`. `main()` turns
labcoat's deliberate errors into one clear line and an exit code (2 for bad
config or arguments, 1 for other failures) — never a traceback.
"""

from __future__ import annotations

import importlib
import sys

import typer

from labcoat.errors import ConfigError, LabcoatError

COMMAND_MODULES = [
    "labcoat.cli.run_cmds",
    "labcoat.cli.inspect_cmds",
    "labcoat.cli.doctor",
    "labcoat.cli.exec_cmd",
    "labcoat.cli.serve_cmd",
    "labcoat.cli.report_cmds",
    "labcoat.cli.archive_cmds",
    "labcoat.cli.lit_cmds",
]


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="labcoat",
        help="Carry a research idea through literature review, plan, data, experiments, "
             "interpretation, a LaTeX report and review — with LLM agents you can resume and audit.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)
    return app


def main(argv: list[str] | None = None) -> None:
    from rich.markup import escape

    from labcoat.cli.output import err_console

    app = build_app()
    try:
        # Without standalone mode click returns the code of typer.Exit instead of exiting.
        code = app(args=argv, standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except ConfigError as exc:
        err_console().print(f"[bold red]config error:[/] {escape(str(exc))}", highlight=False)
        sys.exit(2)
    except LabcoatError as exc:
        err_console().print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console().print("interrupted; `labcoat resume RUN` continues the run")
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:  # click's usage errors arrive here in non-standalone mode
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            sys.exit(1)
        raise
