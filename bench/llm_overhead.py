"""Per-call cost of the LLM layer over a bare SDK call to the same loopback server.

Both sides call the scripted provider (tests/support) on 127.0.0.1 with the
same model, system prompt, messages and tools, interleaved call by call so
machine noise hits both alike:
  bare  - openai.OpenAI().chat.completions.create(...) and nothing else;
  layer - ctx.models.ask(...) in a real run store: effect lookup and record,
          budget check, ledger row, pricing, reply parsing into a command.
A third line times replaying the layer's calls from the store (no HTTP).

Prints a table of milliseconds per call, then `ratio: X` (layer / bare) last.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import openai  # noqa: E402

from labcoat.agents.commands import RunCode, Search  # noqa: E402
from labcoat.llm.commands import CommandSet  # noqa: E402
from tests.support.scripted_provider import ScriptedProvider, reply_command, scripted_config, scripted_env  # noqa: E402
from tests.support.scripted_run import open_context  # noqa: E402

SYSTEM = "You are a PhD student reviewing literature on sparse attention. " * 20
MESSAGES = [{"role": "user", "content": "Step 3. Find papers on efficient transformers. " * 10}]


def policy(_req):
    return reply_command("search", query="efficient transformers", source="arxiv", text="Searching.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    commands = [Search, RunCode]
    bare_s: list[float] = []
    layer_s: list[float] = []
    with ScriptedProvider(policy) as sp, tempfile.TemporaryDirectory() as tmp:
        config = scripted_config(sp, model="openai:gpt-4o", budget={"dollars": 1000.0})
        env = scripted_env(sp)
        client = openai.OpenAI(api_key=env["OPENAI_API_KEY"], base_url=sp.base_url_openai, max_retries=0)
        cs = CommandSet(commands)
        wire = cs.wire("tools")
        tools = [{"type": "function", "function": {"name": t["name"], "description": t["description"],
                                                   "parameters": t["parameters"], "strict": True}}
                 for t in wire["tools"]]
        bare_messages = [{"role": "system", "content": SYSTEM + "\n\n" + cs.instructions("tools")}, *MESSAGES]
        run_dir = Path(tmp) / "run"
        with open_context(run_dir, config, env=env) as ctx:
            for i in range(args.calls + 10):
                t0 = time.perf_counter()
                client.chat.completions.create(model="gpt-4o", messages=bare_messages, tools=tools,
                                               tool_choice="auto", max_completion_tokens=4096,
                                               parallel_tool_calls=False)
                t1 = time.perf_counter()
                reply = ctx.models.ask(key=ctx.key("step", i, "phd"), role="phd", system=SYSTEM, messages=MESSAGES,
                                       commands=commands)
                t2 = time.perf_counter()
                if reply.command is None or reply.command.query != "efficient transformers":
                    print("layer returned a wrong command", file=sys.stderr)
                    return 1
                if i >= 10:  # warm-up: connections, imports, first store pages
                    bare_s.append(t1 - t0)
                    layer_s.append(t2 - t1)
            ledger_rows = len(ctx.store.ledger())
        client.close()
        with open_context(run_dir, config, env=env) as ctx:
            requests_before = len(sp.requests)
            t0 = time.perf_counter()
            for i in range(args.calls + 10):
                ctx.models.ask(key=ctx.key("step", i, "phd"), role="phd", system=SYSTEM, messages=MESSAGES,
                               commands=commands)
            replay_per_call = (time.perf_counter() - t0) / (args.calls + 10)
            if len(sp.requests) != requests_before:
                print("replay reached the provider", file=sys.stderr)
                return 1
    if ledger_rows != args.calls + 10:
        print(f"ledger has {ledger_rows} rows, expected {args.calls + 10}", file=sys.stderr)
        return 1
    bare, layer = statistics.median(bare_s), statistics.median(layer_s)
    print(f"{'side':<8}{'calls':>8}{'median ms':>12}{'mean ms':>10}")
    print(f"{'bare':<8}{len(bare_s):>8}{bare * 1000:>12.2f}{statistics.mean(bare_s) * 1000:>10.2f}")
    print(f"{'layer':<8}{len(layer_s):>8}{layer * 1000:>12.2f}{statistics.mean(layer_s) * 1000:>10.2f}")
    print(f"{'replay':<8}{args.calls + 10:>8}{replay_per_call * 1000:>12.2f}{'':>10}")
    print(f"overhead_ms: {(layer - bare) * 1000:.2f}")
    print(f"ratio: {layer / bare:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
