"""`Model`: one configured model, callable live (no store, no budget).

`complete(messages, schema=CommandSet|None)` makes one call with retries and
returns a parsed `Reply`; `call(...)` returns the raw completion dict the run
store records. The registry adds memoisation, the ledger and the budget.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from labcoat.llm.commands import CommandSet
from labcoat.llm.faults import call_with_retries
from labcoat.retry import Backoff
from labcoat.llm.presets import ModelRef
from labcoat.llm.pricing import Pricer
from labcoat.llm.types import Reply, Usage


class Model:
    def __init__(self, ref: ModelRef, *, base_url: str | None, api_key: str, timeout_s: float = 120.0,
                 retries: int = 5, backoff: Backoff | None = None, pricer: Pricer | None = None,
                 secrets: tuple[str, ...] = (), served_name: str | None = None,
                 sleep: Callable[[float], None] | None = None, on_retry: Callable[[str], None] | None = None):
        self.ref = ref
        self.retries = retries
        self.backoff = backoff or Backoff()
        self.pricer = pricer or Pricer()
        self.secrets = tuple(s for s in (*secrets, api_key) if s and s != "unused")
        self.sleep = sleep
        self.on_retry = on_retry
        # Each backend imports its SDK (seconds of start-up) only when a model of its wire is built.
        if ref.preset.wire == "anthropic":
            from labcoat.llm.anthropic_backend import AnthropicBackend

            self.backend: Any = AnthropicBackend(ref, base_url=base_url, api_key=api_key, timeout_s=timeout_s)
        else:
            from labcoat.llm.openai_backend import OpenAIBackend

            self.backend = OpenAIBackend(ref, base_url=base_url, api_key=api_key, timeout_s=timeout_s,
                                         served_name=served_name)

    @property
    def id(self) -> str:
        return self.ref.id

    @property
    def mode(self) -> str:
        return self.ref.mode

    def close(self) -> None:
        self.backend.close()

    def system_for(self, system: str, schema: CommandSet | None) -> str:
        return system_with(system, schema, self.mode)

    def call(self, system: str, messages: list[dict], wire: dict | None, *, temperature: float | None,
             max_tokens: int, cache_key: str | None = None) -> dict:
        """One live call (retried on transient faults); the completion with its dollar cost filled in.

        `cache_key` names the family of calls that share a prompt prefix (a run's role), so a provider
        that routes by it (OpenAI's `prompt_cache_key`) sends them to the machine holding that prefix."""
        return self._priced(lambda: self.backend.call(system, messages, wire, temperature, max_tokens, cache_key))

    def chat(self, request: dict) -> dict:
        """One experiment program's chat request (`labcoat.llm.chat`), live, retried, priced."""
        return self._priced(lambda: self.backend.chat(request))

    def _priced(self, send: Callable[[], dict]) -> dict:
        kwargs = {} if self.sleep is None else {"sleep": self.sleep}
        raw = call_with_retries(send, what=f"the call to {self.id}", retries=self.retries, secrets=self.secrets,
                                backoff=self.backoff, on_retry=self.on_retry, key_env=self.ref.preset.key_env,
                                **kwargs)
        raw["dollars"] = self.pricer.dollars(self.ref, Usage.from_dict(raw["usage"]))
        return raw

    def complete(self, messages: list[Mapping[str, str]], *, schema: CommandSet | None = None,
                 temperature: float | None = None, max_tokens: int | None = None) -> Reply:
        """One call, parsed; a leading system message is the stable prefix. Raises ReplyError when malformed."""
        msgs = [dict(m) for m in messages]
        system = ""
        if msgs and msgs[0]["role"] == "system":
            system = msgs.pop(0)["content"]
        wire = schema.wire(self.mode) if schema else None  # type: ignore[arg-type]
        raw = self.call(self.system_for(system, schema), msgs, wire, temperature=temperature,
                        max_tokens=max_tokens or 4096)
        return to_reply(raw, schema.parse(raw, self.mode) if schema else None, model=self.id)  # type: ignore[arg-type]


def system_with(system: str, schema: CommandSet | None, mode: str) -> str:
    """The stable prefix plus how to reply with `schema`'s commands in `mode`."""
    if schema is None:
        return system
    how = schema.instructions(mode)  # type: ignore[arg-type]
    return f"{system}\n\n# Commands\n{how}" if system else how


def to_reply(raw: dict, command: Any, *, model: str, attempts: int = 1, replayed: bool = False,
             usage: Usage | None = None, dollars: float | None = None) -> Reply:
    """`model` is the labcoat model string; the provider's own name for it stays in the recorded completion."""
    return Reply(text=raw.get("text") or "", command=command, usage=usage or Usage.from_dict(raw.get("usage")),
                 dollars=float(raw.get("dollars") or 0.0) if dollars is None else dollars,
                 model=model, latency_s=float(raw.get("latency_s") or 0.0),
                 finish_reason=raw.get("finish_reason"), attempts=attempts, replayed=replayed)
