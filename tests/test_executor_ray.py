"""The Ray backend against the executor contract: the same test functions, on a local 2-CPU Ray instance."""

from __future__ import annotations

import concurrent.futures as cf
import inspect

import pytest

ray = pytest.importorskip("ray", reason="needs the `ray` extra")

import tests.test_executor_contract as contract  # noqa: E402
from labcoat.executor import Executor  # noqa: E402
from labcoat.executor.ray_backend import RayExecutor  # noqa: E402

pytestmark = pytest.mark.timeout(300)
CONTRACT = sorted(name for name, fn in vars(contract).items() if name.startswith("test_") and callable(fn))


@pytest.fixture(scope="module")
def ray_executor():
    ex = RayExecutor(2)
    yield ex
    ex.shutdown(wait=True)


@pytest.mark.parametrize("name", CONTRACT)
def test_ray_passes_the_executor_contract(name, ray_executor, tmp_path, monkeypatch):
    monkeypatch.setattr(contract, "BACKENDS", {"ray": lambda workers: RayExecutor(workers)})
    test = getattr(contract, name)
    available = {"executor": ray_executor, "tmp_path": tmp_path}
    test(**{p: available[p] for p in inspect.signature(test).parameters})


def test_a_killed_candidate_is_reported_and_the_rest_go_on(ray_executor):
    assert isinstance(ray_executor, Executor)
    futures = [ray_executor.submit(contract.square, 3), ray_executor.submit(contract.die),
               ray_executor.submit(contract.square, 4)]
    done = {f: f.exception(timeout=120) for f in cf.as_completed(futures, timeout=120)}
    crashed = done[futures[1]]
    assert isinstance(crashed, ray.exceptions.WorkerCrashedError)
    assert "died" in str(crashed)
    assert [futures[0].result(), futures[2].result()] == [9, 16]
    assert ray_executor.submit(contract.square, 6).result(timeout=120) == 36


def test_config_selects_the_ray_backend(ray_executor):
    from labcoat.config.schema import ExecutorConfig
    from labcoat.executor import make_executor

    ex = make_executor(ExecutorConfig(kind="ray", workers=2))
    try:
        assert isinstance(ex, RayExecutor) and ex.workers == 2
        assert ex.submit(contract.square, 8).result(timeout=120) == 64
    finally:
        ex.shutdown(wait=True)
    # The shared Ray instance belongs to the first executor: shutting this one down leaves it running.
    assert ray_executor.submit(contract.square, 2).result(timeout=120) == 4


def test_an_address_with_no_cluster_is_a_config_error(monkeypatch, ray_executor):
    from labcoat.errors import ConfigError

    # As in a fresh driver: no Ray in this process yet.
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kw: (_ for _ in ()).throw(
        ConnectionError(f"could not find any running Ray instance at {kw['address']}")))
    with pytest.raises(ConfigError) as err:
        RayExecutor(2, address="127.0.0.1:1")
    assert err.value.path == "executor.ray_address" and "127.0.0.1:1" in str(err.value)
