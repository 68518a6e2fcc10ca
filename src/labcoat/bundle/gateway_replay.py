"""Model access for a re-run program: labcoat's own gateway, answering from the bundle's log.

The program runs exactly as in the original run: the sandbox binds a
gateway socket of its own and the SDK in the program talks to it. The
gateway's record for this re-run is a scratch store under the work
directory, seeded with the bundle's calls at the keys the gateway uses
(`<program>/model/<request hash>/<n>`), so each request the program repeats
is answered from the record. A request the log does not hold is refused with
HTTP 409 — no provider is asked — unless `--live-models`, where it goes to
the provider through labcoat's LLM layer (keys from the environment, billed
in the scratch store's ledger) and the new answers are kept there.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from labcoat.store.runstore import dumps


class RecordedOnly:
    """Stands in for the model layer when nothing may reach a provider."""

    def __init__(self, program: str):
        self.program = program

    def experiment_call(self, effect_key: str, request: dict, *, node: str | None) -> dict:
        from labcoat.gateway.wire import Refused

        raise Refused(409, f"labcoat reproduce: program {self.program} asked {request.get('model')} something the "
                           "original run did not (this request is not in the bundle's replay log); re-run with "
                           "--live-models to ask the model", kind="not_recorded")

    def close(self) -> None:
        return None


def _seed(store: Any, program_key: str, calls: list[dict[str, Any]]) -> None:
    from labcoat.gateway.calls import KIND
    from labcoat.store.effects import request_hash

    seen: Counter = Counter()
    for call in calls:
        digest = request_hash(call["request"])
        n = seen[digest]
        seen[digest] += 1
        store.put_effect(f"{program_key}/model/{digest[:16]}/{n}", KIND, digest, dumps(call["request"]),
                         dumps(call["response"]), 0.0)


@contextlib.contextmanager
def model_access(program: dict[str, Any], calls: list[dict[str, Any]], store_dir: Path,
                 live: bool) -> Iterator[tuple[Any, Any]]:
    """(context, grant) of a gateway for `program`; put `ctx.gateway.access(grant)` in its spec."""
    from labcoat.config.loading import config_from_mapping
    from labcoat.run.exec_models import PROGRAM_KEY, exec_gateway

    access = dict(program.get("model_access") or {})
    allowed = access.get("allowed") or sorted({str(c["request"].get("model")) for c in calls})
    limits = {k: access[k] for k in ("max_calls", "max_concurrent", "max_tokens_per_call") if access.get(k)}
    config = config_from_mapping({"topic": f"labcoat reproduce {program['name']}",
                                  "experiments": {"models": allowed, **limits}}, source="the bundle's program.json")
    models = None if live else (lambda ctx: RecordedOnly(program["name"]))
    with exec_gateway(config, store_dir, models=models) as (ctx, grant):
        if not live:  # asked live, every call goes to the provider again
            _seed(ctx.store, PROGRAM_KEY, calls)
        yield ctx, grant
