"""`labcoat compile RUN|DIR`: rebuild a report's PDF through the same sandboxed path a run uses."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def _tex_dir(ref: str, runs_dir: Path | None) -> Path:
    from labcoat.errors import ConfigError
    from labcoat.store import find_run

    given = Path(ref)
    if given.is_file() and given.suffix == ".tex":
        raise ConfigError(f"{ref}: give the folder that holds report.tex (or a run), not the file",
                          source="labcoat compile")
    for candidate in (given, given / "report"):
        if (candidate / "report.tex").is_file():
            return candidate
    run = find_run(ref, runs_dir)
    for candidate in (run / "report", run):
        if (candidate / "report.tex").is_file():
            return candidate
    raise ConfigError(f"{run} has no report.tex (in the run folder or report/)", source="labcoat compile")


def register(app: typer.Typer) -> None:
    @app.command("compile")
    def compile_(
        ref: str = typer.Argument(..., metavar="RUN|DIR", help="a run (id or folder) or a folder holding report.tex"),
        runs_dir: Optional[Path] = typer.Option(None, "--runs", help="folder of runs"),
        engine: Optional[str] = typer.Option(None, "--engine", help="pdf, xelatex or lualatex (default: xelatex "
                                                                    "when the report uses xeCJK, else pdf)"),
        timeout: float = typer.Option(120.0, "--timeout", help="seconds before the compile is stopped"),
    ) -> None:
        """Compile report.tex in the sandbox (as a run does) and write report.pdf and report.log beside it."""
        from labcoat.cli.output import console, err_console
        from labcoat.errors import ConfigError, LabcoatError
        from labcoat.tools.latex import ENGINE_FLAGS, NO_ISOLATION_TEX, compile_latex

        folder = _tex_dir(ref, runs_dir)
        if engine is None:
            head = (folder / "report.tex").read_text(encoding="utf-8", errors="replace")[:20000]
            engine = "xelatex" if "xeCJK" in head else "pdf"
        if engine not in ENGINE_FLAGS:
            raise ConfigError(f"--engine {engine}: use one of {', '.join(sorted(ENGINE_FLAGS))}",
                              source="labcoat compile")
        result = compile_latex(folder, "report.tex", timeout=timeout, engine=engine)
        if result.sandbox != "bwrap":
            err_console().print(f"warning: {NO_ISOLATION_TEX}", markup=False, soft_wrap=True)
        console().print(result.feedback(limit=5), markup=False, soft_wrap=True)
        if not result.ok:
            raise LabcoatError(f"{folder / 'report.tex'} did not compile ({result.seconds:g} s); "
                               f"the log is {folder / 'report.log'}")
        console().print(f"wrote {result.pdf} ({result.seconds:g} s, {engine}, sandbox: {result.sandbox})",
                        markup=False, soft_wrap=True)
