"""The default executor: a local pool of worker processes sized to the machine.

Workers start on first use (a run that executes nothing pays nothing) with
the `spawn` method, which is safe in a driver that has threads. If a worker
dies, the pool is rebuilt for the next submission; the futures that were
running on it fail with `BrokenProcessPool`. Workers end themselves when the
driver is gone (killed with -9, nobody shuts the pool down), so a program
still running for a dead run cannot race the run's resumption.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from typing import Any, Callable
from labcoat.executor.protocol import MapBySubmit


def _die_with_driver(driver: int) -> None:
    """Worker initializer: kill this worker (and so its sandboxed program) once the driver is gone."""
    parent = os.getppid()  # the driver, or a fork server that exits with it

    def driver_alive() -> bool:
        try:
            os.kill(driver, 0)
        except ProcessLookupError:
            return False
        return True

    def watch() -> None:
        while os.getppid() == parent and (parent == driver or driver_alive()):
            time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="driver-watch", daemon=True).start()


class ProcessExecutor(MapBySubmit):
    def __init__(self, workers: int | None = None, *, start_method: str = "spawn"):
        self.workers = workers or os.cpu_count() or 1
        self._start_method = start_method
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._closed = False

    def _fresh_pool(self, broken: ProcessPoolExecutor | None) -> ProcessPoolExecutor:
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot submit to an executor after shutdown")
            if self._pool is None or self._pool is broken:
                if broken is not None:
                    broken.shutdown(wait=False, cancel_futures=True)
                self._pool = ProcessPoolExecutor(max_workers=self.workers,
                                                 mp_context=get_context(self._start_method),
                                                 initializer=_die_with_driver, initargs=(os.getpid(),))
                # The pool spawns a worker only when none is idle: start them all now, so
                # the first batch runs in parallel instead of waiting for spawns one by one.
                for _ in range(self.workers):
                    self._pool.submit(int)
            return self._pool

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        pool = self._fresh_pool(None)
        try:
            return pool.submit(fn, *args, **kwargs)
        except BrokenProcessPool:
            return self._fresh_pool(pool).submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=cancel_futures)

    def close(self) -> None:
        self.shutdown(wait=True)

    def __enter__(self) -> "ProcessExecutor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown(wait=True)
