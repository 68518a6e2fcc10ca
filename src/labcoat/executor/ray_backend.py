"""The Ray executor (`ray` extra): tasks on a local Ray instance or an existing cluster.

`executor.kind: ray` with `ray_address: auto|HOST:PORT` joins a running
cluster (e.g. one started by Slurm with `ray start`); without an address a
local instance is started with `workers` CPUs and stopped at shutdown. Each
task asks for `num_cpus`/`num_gpus`/`memory`; tasks are never retried, so a
worker killed under a candidate fails that candidate's future with Ray's
`WorkerCrashedError` (or `OutOfMemoryError`) instead of running it twice.
Results come back to the driver, which alone writes the run store.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import Future
from typing import Any, Callable

import ray

from labcoat.errors import ConfigError
from labcoat.executor.protocol import MapBySubmit


def _call(fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    return fn(*args, **kwargs)


def _idle(seconds: float) -> None:
    time.sleep(seconds)


class RayExecutor(MapBySubmit):
    def __init__(self, workers: int | None = None, *, address: str | None = None, num_cpus: float = 1,
                 num_gpus: float = 0, memory_mb: int | None = None):
        # Never phone home from a researcher's machine or a cluster node.
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            if address:
                try:
                    ray.init(address=address, include_dashboard=False, log_to_driver=False)
                except ConnectionError as exc:
                    raise ConfigError(f"no Ray cluster answers at '{address}' ({exc}); start one with "
                                      "`ray start --head` or drop executor.ray_address for a local instance",
                                      path="executor.ray_address") from None
            else:
                # A local instance listens on loopback only.
                ray.init(num_cpus=workers or os.cpu_count() or 1, include_dashboard=False, log_to_driver=False,
                         _node_ip_address="127.0.0.1")
        cluster_cpus = int(ray.cluster_resources().get("CPU", 1))
        self.workers = workers or max(1, int(cluster_cpus // max(num_cpus, 1e-9)))
        options: dict[str, Any] = {"num_cpus": num_cpus, "num_gpus": num_gpus, "max_retries": 0}
        if memory_mb:
            options["memory"] = int(memory_mb) * 1024 * 1024
        self._remote = ray.remote(_call).options(**options)
        self._idle = ray.remote(_idle).options(num_cpus=num_cpus, max_retries=0)
        self._lock = threading.Lock()
        self._closed = False
        self._pending: dict[ray.ObjectRef, Future] = {}

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot submit to an executor after shutdown")
            ref = self._remote.remote(fn, args, kwargs)
            fut = self._unwrap(ref.future())
            self._pending[ref] = fut
        fut.add_done_callback(lambda _f, ref=ref: self._forget(ref))
        return fut

    def _unwrap(self, fut: Future) -> Future:
        """A Future whose exception is the task's own (ValueError, ...) rather than Ray's wrapper."""
        out: Future = Future()

        def done(inner: Future) -> None:
            if inner.cancelled():
                out.cancel()
                out.set_running_or_notify_cancel()
                return
            exc = inner.exception()
            if exc is None:
                out.set_result(inner.result())
                return
            if isinstance(exc, ray.exceptions.RayTaskError):
                exc = exc.as_instanceof_cause()
            elif isinstance(exc, ray.exceptions.WorkerCrashedError):
                self._warm()
            out.set_exception(exc)

        fut.add_done_callback(done)
        return out

    def _warm(self) -> None:
        """Start replacement workers now, so the next batch runs in parallel rather than behind a worker start."""
        with self._lock:
            if self._closed:
                return
            for _ in range(self.workers):
                self._idle.remote(0.3)

    def _forget(self, ref: ray.ObjectRef) -> None:
        with self._lock:
            self._pending.pop(ref, None)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            pending = dict(self._pending)
        if cancel_futures:
            for ref in pending:
                ray.cancel(ref, force=True)
        if wait and pending and not cancel_futures:
            ray.wait(list(pending), num_returns=len(pending))
        if self._owns_ray:
            ray.shutdown()

    def close(self) -> None:
        self.shutdown(wait=True)

    def __enter__(self) -> "RayExecutor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown(wait=True)
