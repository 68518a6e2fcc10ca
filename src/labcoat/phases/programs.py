"""Running agents' programs from phases: each run is a recorded sandbox effect.

Experiments read the data the accepted data code prepared: its `data/`
folder is mounted read-only at `inputs/data` and named to programs by the
LABCOAT_DATA_DIR variable (the data contract the seed programs follow).
"""

from __future__ import annotations

from typing import Callable

from labcoat.artefacts import DataCode
from labcoat.workflow.context import RunContext

DATA_ENV = "LABCOAT_DATA_DIR"
DATA_MOUNT = "data"


def run_program_effect(ctx: RunContext, key: str, code: str, *, inputs: dict[str, str] | None = None,
                       timeout: float | None = None, env: dict[str, str] | None = None) -> dict:
    """Run `code` in the sandbox as the recorded effect `key` (see labcoat.executor.recorded)."""
    from labcoat.executor.recorded import run_in_sandbox

    return run_in_sandbox(ctx, key, code, inputs=inputs, timeout=timeout, env=env)


def data_inputs(ctx: RunContext, data: DataCode | None) -> tuple[dict[str, str], dict[str, str]]:
    """(inputs to mount, environment) giving programs the prepared data."""
    if data is None or not data.data_dir:
        return {}, {}
    host = ctx.run_dir / data.data_dir
    if not host.is_dir():
        ctx.warn(f"the prepared data folder {data.data_dir} is missing; programs run without it")
        return {}, {}
    return {DATA_MOUNT: str(host)}, {DATA_ENV: f"inputs/{DATA_MOUNT}"}


def program_runner(ctx: RunContext, data: DataCode | None) -> Callable[[list[tuple[str, str, dict[str, str]]]], list[dict]]:
    """A function running a batch of (key, code, env) at once on the executor, in order."""
    from labcoat.executor.recorded import run_batch_in_sandbox

    inputs, base_env = data_inputs(ctx, data)

    def run_many(jobs: list[tuple[str, str, dict[str, str]]]) -> list[dict]:
        return run_batch_in_sandbox(ctx, [(key, code, {**base_env, **env}) for key, code, env in jobs],
                                    inputs=inputs)

    return run_many
