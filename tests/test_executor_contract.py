"""The executor contract: every backend must pass these tests.

To check a new backend, add a factory to BACKENDS (name -> callable taking
the number of workers and returning an Executor). Task functions live at
module level so that workers in other processes can import them.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import time

import pytest

from labcoat.executor import Executor, ProcessExecutor
from labcoat.sandbox import ProgramResult, ProgramSpec, run_program

BACKENDS = {
    "process": lambda workers: ProcessExecutor(workers),
}

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(params=sorted(BACKENDS), scope="module")
def executor(request):
    ex = BACKENDS[request.param](2)
    yield ex
    ex.shutdown(wait=True)


def square(x: int) -> int:
    return x * x


def fail(message: str) -> None:
    raise ValueError(message)


def nap(seconds: float) -> tuple[int, float, float]:
    start = time.time()
    time.sleep(seconds)
    return os.getpid(), start, time.time()


def die() -> None:
    os._exit(7)


def test_is_an_executor(executor):
    assert isinstance(executor, Executor)
    assert executor.workers == 2


def test_submit_returns_a_future_with_the_result(executor):
    fut = executor.submit(square, 7)
    assert isinstance(fut, cf.Future)
    assert fut.result(timeout=60) == 49


def test_exceptions_travel_back_with_their_type(executor):
    fut = executor.submit(fail, "bad input at step 3")
    with pytest.raises(ValueError, match="bad input at step 3"):
        fut.result(timeout=60)


def test_map_keeps_input_order(executor):
    assert list(executor.map(square, range(10), timeout=60)) == [x * x for x in range(10)]


def test_as_completed_sees_every_future(executor):
    futures = [executor.submit(square, i) for i in range(6)]
    assert sorted(f.result() for f in cf.as_completed(futures, timeout=60)) == [0, 1, 4, 9, 16, 25]


def test_workers_run_in_parallel(executor):
    executor.submit(square, 1).result(timeout=60)  # workers started
    futures = [executor.submit(nap, 1.0) for _ in range(2)]
    spans = [f.result(timeout=60) for f in futures]
    # Two one-second naps overlap in time on two workers.
    (_, s1, e1), (_, s2, e2) = spans
    assert min(e1, e2) > max(s1, s2)


def test_runs_a_sandboxed_program_and_returns_its_result(executor, tmp_path):
    spec = ProgramSpec(workdir=str(tmp_path / "w"), code="print(6 * 7)", timeout_s=30)
    result = executor.submit(run_program, spec).result(timeout=90)
    assert isinstance(result, ProgramResult)
    assert (result.exit_code, result.stdout) == (0, "42\n")


def test_a_dead_worker_fails_its_task_and_the_executor_recovers():
    for name, factory in BACKENDS.items():
        ex = factory(1)
        try:
            with pytest.raises(Exception) as info:
                ex.submit(die).result(timeout=60)
            assert not isinstance(info.value, cf.TimeoutError), name
            assert ex.submit(square, 5).result(timeout=60) == 25
        finally:
            ex.shutdown(wait=True)


def test_submit_after_shutdown_is_refused():
    for factory in BACKENDS.values():
        ex = factory(1)
        ex.shutdown(wait=True)
        with pytest.raises(RuntimeError):
            ex.submit(square, 2)
