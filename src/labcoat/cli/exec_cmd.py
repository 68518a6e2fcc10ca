"""`labcoat exec PROGRAM.py`: run one program exactly as an experiment would, print the result as JSON."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("exec")
    def exec_(
        program: Path = typer.Argument(..., help="the Python program to run"),
        timeout: Optional[float] = typer.Option(None, "--timeout", help="wall-clock seconds (default: the config's)"),
        memory: Optional[int] = typer.Option(None, "--memory", help="memory limit in MB (default: the config's)"),
        network: bool = typer.Option(False, "--network", help="let the program reach the network"),
        inputs: list[Path] = typer.Option([], "--input", help="a directory mounted read-only at inputs/<name>; repeatable"),
        config: Optional[Path] = typer.Option(None, "--config", "-c", help="take sandbox settings from a research config"),
        workdir: Optional[Path] = typer.Option(None, "--workdir", help="where the program runs (default: a new ./exec-<name>-<time>)"),
        models: list[str] = typer.Option([], "--models", help="let the program call this model through the gateway "
                                                                "(provider:model); repeatable"),
    ) -> None:
        """Run PROGRAM in the sandbox with the experiments' limits and print what happened as JSON."""
        from labcoat.config.loading import load_config
        from labcoat.config.schema import SandboxConfig
        from labcoat.errors import ConfigError
        from labcoat.executor.recorded import spec_from_config
        from labcoat.sandbox import run_program

        if not program.is_file():
            raise ConfigError(f"no such program file: {program}", source="labcoat exec")
        research = load_config(config) if config else None
        cfg = research.sandbox if research else SandboxConfig()
        changes = {k: v for k, v in (("memory_mb", memory), ("network", network or None)) if v is not None}
        if changes:
            cfg = cfg.model_copy(update=changes)
        named: dict[str, str] = {}
        for d in inputs:
            if not d.is_dir():
                raise ConfigError(f"--input {d}: not a directory", source="labcoat exec")
            if d.resolve().name in named:
                raise ConfigError(f"--input {d}: another input is already named '{d.resolve().name}'",
                                  source="labcoat exec")
            named[d.resolve().name] = str(d.resolve())
        where = workdir or Path.cwd() / f"exec-{program.stem}-{time.strftime('%Y%m%d-%H%M%S')}"
        if where.exists() and any(where.iterdir()):
            raise ConfigError(f"--workdir {where} is not empty; give a new directory", source="labcoat exec")
        spec = spec_from_config(cfg, where.resolve(), path=str(program.resolve()), inputs=named, timeout=timeout)
        spec.script_name = program.name
        if models:
            data = _run_with_models(spec, research, models, where)
        else:
            result = run_program(spec)
            data = result.to_json()
        for warning in data["warnings"]:
            print(f"warning: {warning}", file=sys.stderr)
        print(json.dumps(data, indent=1, ensure_ascii=False))
        if data.get("model_calls", {}).get("pause"):
            raise typer.Exit(1)
        ok = data["exit_code"] == 0 and data["killed_by"] is None
        if not ok:
            raise typer.Exit(1)


def _run_with_models(spec, research, models: list[str], where: Path) -> dict:
    """Run with a gateway allowing `models`; the calls are kept in `<workdir>.calls/` beside the program's folder."""
    from labcoat.config.loading import config_from_mapping
    from labcoat.run.exec_models import exec_gateway, exec_report
    from labcoat.sandbox import run_program

    names = [m.strip() for entry in models for m in entry.split(",") if m.strip()]
    base = research.model_dump(mode="json") if research else {"topic": "labcoat exec"}
    base["experiments"] = {**base.get("experiments", {}), "models": names}
    config = config_from_mapping(base, source="labcoat exec --models")
    with exec_gateway(config, where.resolve().with_name(where.name + ".calls")) as (ctx, grant):
        spec.gateway = ctx.gateway.access(grant)
        result = run_program(spec)
        data = result.to_json()
        data["model_calls"] = exec_report(ctx, grant)
        if grant.pause is not None:
            data["model_calls"]["pause"] = f"{grant.pause} ({grant.pause.hint})"
    return data
