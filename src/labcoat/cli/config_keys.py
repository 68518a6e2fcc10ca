"""Loading a config for a command that calls models: keys the YAML held, and keys a run still lacks.

Agent Laboratory configs carry `api-key: "..."`. A real key found there is
put into this process's environment (never into the config, the store or a
log) when the environment has none, and the user is told to move it.
"""

from __future__ import annotations

import os
from pathlib import Path

from rich.markup import escape

from labcoat.cli.output import console, err_console


def load_run_config(path: Path, overrides: list[str] | None = None):
    """The validated config, with its notes printed and any key it held in this process's environment."""
    from labcoat.config.loading import load_config

    keys: dict[str, str] = {}
    cfg = load_config(path, overrides=overrides, keys=keys)
    out = console()
    for note in cfg.compat_notes:
        out.print(f"[dim]{escape(note)}[/]")
    for var, value in keys.items():
        os.environ[var] = value  # only keys the environment lacked come back from load_config
    if keys:
        names = " and ".join(keys)
        err_console().print(f"[yellow]warning:[/] {escape(str(path))} holds an API key ({names}): it is used by "
                            "this process only and stored nowhere, so `labcoat resume` will need it in the "
                            f"environment. Move it there: {' '.join(f'export {v}=...' for v in keys)}")
    return cfg


def require_keys(cfg) -> None:
    """Stop before a run starts or resumes without the keys its models need."""
    from labcoat.errors import LabcoatError
    from labcoat.run.readiness import keys_hint

    hint = keys_hint(cfg)
    if hint:
        raise LabcoatError(hint)
