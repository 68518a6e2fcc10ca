"""Executors: where the driver sends sandboxed programs (see `protocol`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from labcoat.executor.process import ProcessExecutor
from labcoat.executor.protocol import Executor

if TYPE_CHECKING:
    from labcoat.config.schema import ExecutorConfig

__all__ = ["Executor", "ProcessExecutor", "make_executor"]


def make_executor(cfg: "ExecutorConfig") -> Executor:
    """The backend `config.executor` names; the process pool is sized to the machine by default."""
    if cfg.kind == "process":
        return ProcessExecutor(cfg.workers)
    from labcoat.errors import ConfigError

    if cfg.kind == "ray":
        try:
            from labcoat.executor.ray_backend import RayExecutor
        except ImportError:
            raise ConfigError("executor.kind: ray needs the `ray` extra: pip install 'labcoat[ray]'",
                              path="executor.kind") from None
        return RayExecutor(cfg.workers, address=cfg.ray_address, num_cpus=cfg.ray_num_cpus,
                           num_gpus=cfg.ray_num_gpus, memory_mb=cfg.ray_memory_mb)

    raise ConfigError(f"executor backend '{cfg.kind}' is not available in this installation; "
                      "use `executor.kind: process`", path="executor.kind")
