"""The executor protocol: where sandboxed programs run.

A `concurrent.futures`-style interface: `submit` returns a
`concurrent.futures.Future` (so `as_completed` and `wait` work on any
backend), `map` keeps input order, `shutdown`/`close` release the workers.
Functions and arguments must pickle; results flow back to the driver, which
alone writes the run store. Every backend passes the contract suite in
tests/test_executor_contract.py.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any, Callable, Iterable, Iterator, Protocol, runtime_checkable


@runtime_checkable
class Executor(Protocol):
    workers: int

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        """Schedule `fn(*args, **kwargs)`; raises RuntimeError after shutdown."""
        ...

    def map(self, fn: Callable[..., Any], *iterables: Iterable[Any], timeout: float | None = None) -> Iterator[Any]:
        """Results of `fn` over zipped `iterables`, in input order; the first error is raised when reached."""
        ...

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        ...

    def close(self) -> None:
        """Same as `shutdown(wait=True)`; the runner calls it when a run ends."""
        ...


class MapBySubmit:
    """`map` for any backend that has `submit`: results in order, a shared deadline,
    and the remaining futures cancelled when the caller stops early."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:  # pragma: no cover
        raise TypeError(f"{type(self).__name__} must define submit")

    def map(self, fn: Callable[..., Any], *iterables: Iterable[Any], timeout: float | None = None) -> Iterator[Any]:
        import time

        futures = [self.submit(fn, *args) for args in zip(*iterables)]
        deadline = None if timeout is None else time.monotonic() + timeout

        def results() -> Iterator[Any]:
            try:
                for fut in futures:
                    left = None if deadline is None else max(0.0, deadline - time.monotonic())
                    yield fut.result(timeout=left)
            finally:
                for fut in futures:
                    fut.cancel()

        return results()
