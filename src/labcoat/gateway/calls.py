"""Model calls of experiment programs as recorded effects, under each program's grant.

A `Grant` is one program's access: its identity (the effect key of its run),
a token worthless anywhere but this gateway and only while the program runs,
the models it may call and its limits. Each call is an effect of kind
`gateway` at `<program key>/model/<request hash>/<n>`, where `n` counts the
same request earlier in the same program: the key never depends on the order
in which parallel calls (threads in the program) arrive or finish, so a
re-run program (resume after a kill) is answered from the record call by call
and a changed program is answered for exactly the requests it repeats. A
request at temperature 0 already answered anywhere in the run, or being
answered right now for another thread or program, is served from that answer
too (0 tokens billed). Live calls go through the one LLM layer
(`ModelRegistry.experiment_call`): ledger row of role `experiment` with the
program as `node`, the budget cap, the provider's retries.

`calls_made(store, program_key)` lists what a program asked and was answered:
the replay log an export serves offline.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections import Counter
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from labcoat.errors import BudgetExceeded, RunPaused
from labcoat.gateway.wire import Refused
from labcoat.llm.faults import ProviderError
from labcoat.store.effects import request_hash

KIND = "gateway"


@dataclass
class Grant:
    program: str
    allowed: tuple[str, ...]
    max_calls: int
    max_concurrent: int
    max_tokens: int
    phase: str | None = None
    token: str = field(default_factory=lambda: "lcgw-" + secrets.token_urlsafe(32))
    calls: int = 0
    live: int = 0
    replayed: int = 0
    dollars: float = 0.0
    refused: list[dict[str, Any]] = field(default_factory=list)
    pause: RunPaused | None = None
    slots: Any = None  # the event loop's semaphore for max_concurrent
    _seen: Counter = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def summary(self) -> dict[str, Any]:
        """What the program's run record says about its model calls."""
        return {"calls": self.calls, "live": self.live, "replayed": self.replayed, "dollars": round(self.dollars, 6),
                "refused": list(self.refused), "allowed": list(self.allowed)}

    def refuse(self, refusal: Refused) -> Refused:
        with self._lock:
            self.refused.append({"status": refusal.status, "kind": refusal.kind, "message": refusal.message})
        return refusal


def pause_refusal(pause: RunPaused) -> Refused:
    if isinstance(pause, BudgetExceeded):
        return Refused(402, f"{pause} (the run pauses when this program ends: {pause.hint})", kind="budget_exceeded")
    return Refused(503, f"{pause} (the run pauses when this program ends: {pause.hint})", kind="provider_unavailable")


class ExperimentCalls:
    """Runs one program's chat request as a recorded effect (thread-safe)."""

    def __init__(self, ctx: Any):
        self.ctx = ctx
        # temperature-0 requests answered or being answered, by request hash: an identical one takes that
        # answer. A good answer stays here because its effect row is written only after `_live` returns:
        # a thread arriving in between would find neither a pending answer nor a row, and pay again.
        self._pending: dict[str, Future] = {}
        self._lock = threading.Lock()

    def call(self, grant: Grant, request: dict[str, Any]) -> dict[str, Any]:
        """The completion for `request`, recorded; raises `Refused` with the reason the program reads."""
        digest = request_hash(request)
        with grant._lock:
            if grant.pause is not None:
                raise pause_refusal(grant.pause)
            if grant.calls >= grant.max_calls:
                raise Refused(429, f"this program has made its {grant.max_calls} model calls "
                                   "(config key experiments.max_calls)", kind="limit_exceeded")
            grant.calls += 1
            n = grant._seen[digest]
            grant._seen[digest] += 1
        key = f"{grant.program}/model/{digest[:16]}/{n}"
        live: list[bool] = []

        def send() -> dict[str, Any]:
            live.append(True)
            return self._live(grant, key, digest, request)

        try:
            raw = self.ctx.effects.run(KIND, key, request, send)
        except RunPaused as pause:
            with grant._lock:
                grant.pause = grant.pause or pause
            raise pause_refusal(pause) from None
        with grant._lock:
            if live and not raw.get("cached_from"):
                grant.live += 1
                grant.dollars += float(raw.get("dollars") or 0)
            else:
                grant.replayed += 1
        if "error" in raw:
            raise Refused(int(raw["error"].get("status") or 400), raw["error"]["message"], kind="provider_refused")
        return {**raw, "call_id": digest[:24] + f"-{n}"}

    def _live(self, grant: Grant, key: str, digest: str, request: dict[str, Any]) -> dict[str, Any]:
        if request.get("temperature") != 0:
            return self._send(grant, key, request)
        with self._lock:
            earlier = self._pending.get(digest)
            mine = earlier is None
            if mine:
                earlier = self._pending[digest] = Future()
        if not mine:
            answer = earlier.result()
            return answer if "error" in answer else {**answer, "dollars": 0.0, "cached_from": answer["key"]}
        answer: dict[str, Any] | None = None
        try:
            row = self.ctx.store.effect_by_request(KIND, digest)
            answer = json.loads(row["result"]) if row is not None else None
            if answer is not None and "error" not in answer:
                answer = {**answer, "dollars": 0.0, "cached_from": row["key"]}
            else:
                answer = {**self._send(grant, key, request), "key": key}
            earlier.set_result(answer)
            return answer
        except BaseException as exc:
            earlier.set_exception(exc)
            raise
        finally:
            if answer is None or "error" in answer:
                # a refusal or a failure is not an answer to share: the next identical request tries again
                with self._lock:
                    self._pending.pop(digest, None)

    def _send(self, grant: Grant, key: str, request: dict[str, Any]) -> dict[str, Any]:
        try:
            return self.ctx.models.experiment_call(key, request, node=grant.program)
        except ProviderError as exc:
            # The provider refused this exact request: the same answer on every replay.
            return {"error": {"status": 400, "message": str(exc)}}


def calls_made(store: Any, program_key: str) -> list[dict[str, Any]]:
    """Every model call the program run `program_key` made, in the order answered: key, request, response."""
    rows = store.effects_under(f"{program_key}/model/", KIND)
    return [{"key": r["key"], "request": json.loads(r["request"]), "response": json.loads(r["result"])}
            for r in rows]
