"""Model access for one program run by hand (`labcoat exec PROGRAM --models ...`).

The calls go through the same gateway, LLM layer and ledger as in a run, kept
in a store of their own beside the program's folder (never inside it: the
program could rewrite its own bill), so the result can list each call with
its tokens and cost.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from labcoat.gateway.calls import calls_made
from labcoat.gateway.run_gateway import RunGateway

PROGRAM_KEY = "exec/program"


@contextlib.contextmanager
def exec_gateway(config: Any, store_dir: Path, *, models: Any = None) -> Iterator[tuple[Any, Any]]:
    """(context, grant) for one program; the store is at `store_dir`.

    `models(ctx)` builds what answers live calls (default: the LLM layer); a replay that
    must never reach a provider passes one that refuses.
    """
    from labcoat.llm.registry import ModelRegistry
    from labcoat.store import Effects
    from labcoat.store.runstore import RunStore
    from labcoat.workflow.context import EventLog, RunContext

    store = RunStore(store_dir)
    ctx = RunContext(config=config, store=store, run_id=store_dir.name, run_dir=store_dir, effects=Effects(store),
                     events=EventLog(store))
    ctx.phase = "exec"
    ctx.models = models(ctx) if models is not None else ModelRegistry(ctx)
    ctx.gateway = RunGateway(ctx)
    grant = None
    try:
        grant = ctx.gateway.open(PROGRAM_KEY)
        yield ctx, grant
    finally:
        if grant is not None:
            ctx.gateway.revoke(grant)
        ctx.gateway.close()
        ctx.models.close()
        store.close()


def exec_report(ctx: Any, grant: Any) -> dict[str, Any]:
    """The grant's summary plus each call: model, messages, answer, tokens and dollars."""
    billed = {r["effect_key"]: r for r in ctx.store.ledger()}
    calls = []
    for call in calls_made(ctx.store, PROGRAM_KEY):
        response = call["response"]
        calls.append({"model": call["request"].get("model"), "messages": call["request"].get("messages"),
                      "answer": response.get("text"), "error": response.get("error"),
                      "usage": response.get("usage"), "dollars": billed.get(call["key"], {}).get("dollars", 0.0)})
    return {**grant.summary(), "calls_made": calls}
