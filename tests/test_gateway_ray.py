"""A program on a Ray worker reaches the driver's gateway through the worker's relay (local Ray instance).

With `executor.kind: ray` a program gets the gateway's TCP address instead of
its socket path, as it would on another machine: the worker serves a local
socket that relays to the driver, and the sandbox binds that.
"""

from __future__ import annotations

import json

import pytest

ray = pytest.importorskip("ray", reason="needs the `ray` extra")

from labcoat.executor.ray_backend import RayExecutor  # noqa: E402
from labcoat.executor.recorded import run_batch_in_sandbox  # noqa: E402

from tests.test_gateway import KEY, lab  # noqa: E402

pytestmark = pytest.mark.timeout(300)

CODE = '''
import json, os
from openai import OpenAI
from labcoat_lab import ask
out = {"socket": os.environ["LABCOAT_GATEWAY_SOCKET"], "ask": ask("relayed {n}"),
       "sdk": OpenAI().chat.completions.create(model="gpt-4o-mini",
                                               messages=[{"role": "user", "content": "sdk {n}"}]).choices[0].message.content}
json.dump(out, open("out.json", "w"))
'''


def test_programs_on_ray_workers_reach_the_gateway_through_the_relay(tmp_path):
    executor = RayExecutor(2)
    try:
        with lab(tmp_path, pool=executor, executor={"kind": "ray"}) as (sp, ctx):
            assert ctx.config.executor.kind == "ray"
            jobs = [(KEY.format(n), CODE.replace("{n}", str(n)), {}) for n in range(2)]
            results = run_batch_in_sandbox(ctx, jobs)
            outs = [json.loads((ctx.run_dir / r["workdir"] / "out.json").read_text()) for r in results]
            tcp = ctx.gateway._gateway.tcp
            ledger = ctx.store.ledger()
    finally:
        executor.shutdown(wait=True)
    assert [r["exit_code"] for r in results] == [0, 0], [r["stderr"][-2000:] for r in results]
    assert tcp and tcp.startswith("127.0.0.1:")
    assert [o["ask"] for o in outs] == ["echo relayed 0", "echo relayed 1"]
    assert [o["sdk"] for o in outs] == ["echo sdk 0", "echo sdk 1"]
    assert len(sp.served) == 4 and {r["node"] for r in ledger} == {KEY.format(0), KEY.format(1)}
