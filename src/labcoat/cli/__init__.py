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
    "labcoat.cli.compile_cmd",
    "labcoat.cli.archive_cmds",
    "labcoat.cli.lit_cmds",
    "labcoat.cli.llm_cmds",
    "labcoat.cli.bundle_cmds",
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
    except Exception as exc:  # usage errors arrive here in non-standalone mode
        if _is_usage_error(exc):
            exc.show()  # type: ignore[attr-defined]
            sys.exit(getattr(exc, "exit_code", 2))
        if type(exc).__name__ == "Abort":  # typer's or click's: the user cancelled a prompt
            sys.exit(1)
        raise


def _click_errors() -> tuple[type[BaseException], ...]:
    """Click's exception bases: typer's vendored copy (newer typer) and click itself (older)."""
    bases: list[type[BaseException]] = [typer.TyperException] if hasattr(typer, "TyperException") else []
    try:
        import click

        bases.append(click.exceptions.ClickException)
    except ImportError:
        pass
    return tuple(bases)


def _is_usage_error(exc: Exception) -> bool:
    return isinstance(exc, _click_errors()) and callable(getattr(exc, "show", None))
