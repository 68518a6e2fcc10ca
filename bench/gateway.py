"""Per-call latency a sandboxed program pays for going through the model gateway.

One program runs in the real sandbox (network allowed for this measurement
only, so it can also reach the provider directly) and, call by call
interleaved so machine noise hits both alike, asks the same loopback
provider (the scripted provider from tests/support) the same question:
  direct  - openai.OpenAI(base_url=<provider>, api_key=<real key>), the SDK straight to the provider;
  gateway - openai.OpenAI() as the sandbox sets it up: the in-sandbox forwarder, the gateway's
            Unix socket, a recorded effect, the budget check, a ledger row, the LLM layer's SDK call;
  ask     - labcoat_lab.ask over the Unix socket (no forwarder, http.client), for reference;
  sdk_uds - the SDK with an httpx transport on the Unix socket (what the forwarder saves a
            program from configuring), for reference: gateway - sdk_uds is the forwarder's hop.
Each question is new (temperature 0.7), so every gateway call is live.

Prints a table of milliseconds per call (p50, p90), then `overhead_ms: X` last:
p50(gateway) - p50(direct).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from labcoat.executor.recorded import run_in_sandbox  # noqa: E402
from labcoat.gateway import RunGateway  # noqa: E402
from tests.support.scripted_provider import ScriptedProvider, scripted_config, scripted_env  # noqa: E402
from tests.support.scripted_run import open_context  # noqa: E402

PROGRAM = '''
import json, os, sys, time
from openai import OpenAI
from labcoat_lab import ask
calls = int(sys.argv[1])
direct = OpenAI(base_url=os.environ["BENCH_PROVIDER_URL"], api_key=os.environ["BENCH_PROVIDER_KEY"], max_retries=0)
gateway = OpenAI(max_retries=0)
import httpx
uds = OpenAI(max_retries=0, base_url="http://gateway/v1", http_client=httpx.Client(transport=httpx.HTTPTransport(uds=os.environ["LABCOAT_GATEWAY_SOCKET"])))
times = {"direct": [], "gateway": [], "ask": [], "sdk_uds": []}
def timed(side, fn):
    start = time.perf_counter()
    fn()
    times[side].append((time.perf_counter() - start) * 1000)
for i in range(calls + 10):
    q = [{"role": "user", "content": f"question {i}: what is {i} + {i}?"}]
    timed("direct", lambda: direct.chat.completions.create(model="gpt-4o-mini", messages=q, temperature=0.7))
    timed("gateway", lambda: gateway.chat.completions.create(model="gpt-4o-mini", messages=q, temperature=0.7))
    timed("ask", lambda: ask(f"ask {i}: what is {i} + {i}?", temperature=0.7))
    q2 = [{"role": "user", "content": f"uds {i}: what is {i} + {i}?"}]
    timed("sdk_uds", lambda: uds.chat.completions.create(model="gpt-4o-mini", messages=q2, temperature=0.7))
json.dump({k: v[10:] for k, v in times.items()}, open("times.json", "w"))  # the first 10 warm up
'''


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    with ScriptedProvider(lambda r: "The answer is 4.") as sp, tempfile.TemporaryDirectory() as tmp:
        env = scripted_env(sp)
        config = scripted_config(sp, budget={"dollars": 1000.0}, sandbox={"network": True, "timeout_s": 600})
        with open_context(Path(tmp) / "run", config, env=env, phase="running_experiments") as ctx:
            ctx.gateway = RunGateway(ctx)
            try:
                code = PROGRAM.replace("int(sys.argv[1])", str(args.calls))
                result = run_in_sandbox(ctx, "bench/gateway", code, env={
                    "BENCH_PROVIDER_URL": sp.base_url_openai, "BENCH_PROVIDER_KEY": env["OPENAI_API_KEY"]})
            finally:
                ctx.gateway.close()
            if result["exit_code"] != 0:
                print(result["stderr"][-3000:], file=sys.stderr)
                return 1
            times = json.loads((ctx.run_dir / result["workdir"] / "times.json").read_text())
            rows = len([r for r in ctx.store.ledger() if r["role"] == "experiment"])
    print(f"{args.calls} calls per side, interleaved; {rows} ledger rows written by the gateway")
    print(f"{'path':<10}{'p50 ms':>10}{'p90 ms':>10}")
    for side in ("direct", "gateway", "ask", "sdk_uds"):
        values = sorted(times[side])
        print(f"{side:<10}{statistics.median(values):>10.2f}{values[int(len(values) * 0.9)]:>10.2f}")
    print(f"overhead_ms: {statistics.median(times['gateway']) - statistics.median(times['direct']):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
