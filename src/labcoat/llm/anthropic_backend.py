"""Anthropic messages through the official `anthropic` SDK.

`max_tokens` is always sent; the system prompt is the top-level `system`
parameter. Anthropic caches only at marked breakpoints (at most 4), each the
prefix in the order tools, system, messages: the last tool is marked (the
tools outlive a system prompt that changes, such as a writer's list of citable
papers), the system block is marked, and so is every message part a caller
flagged `cache` (a paper each reviewer reads: `vision.cached_text`), the
latest ones kept when there are more than fit. A prefix under the model's
minimum (1024 to 4096 tokens) is silently not cached and not charged. Messages
are made to alternate user/assistant starting with a user turn (adjacent turns
of one role are joined; a stray system message becomes user text). Commands
are tools; `tool_choice` is `any` unless a command carries a fenced body,
which needs the model's text before the call (forced tool use suppresses it),
then `auto`. Temperature is sent only when the installed SDK still takes it
(recent Messages APIs dropped it; sending it anyway would be refused). Input
tokens reported here exclude cache reads and writes; the layer's
`input_tokens` is their sum, `cached_tokens` the reads.
"""

from __future__ import annotations

import inspect
import json
import time
from typing import Any

import anthropic

from labcoat.llm.chat import split_system
from labcoat.llm.presets import ModelRef
from labcoat.llm.vision import anthropic_parts
from labcoat.llm.types import Usage, completion

MAX_BREAKPOINTS = 4  # cache_control marks a request may carry


class AnthropicBackend:
    def __init__(self, ref: ModelRef, *, base_url: str | None, api_key: str, timeout_s: float):
        self.ref = ref
        self.client = anthropic.Anthropic(api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout_s)
        self._takes_temperature = "temperature" in inspect.signature(self.client.messages.create).parameters

    def close(self) -> None:
        self.client.close()

    @staticmethod
    def _messages(messages: list[dict]) -> list[dict]:
        out: list[dict] = []
        for m in messages:
            role = "assistant" if m["role"] == "assistant" else "user"
            if isinstance(m["content"], list):  # text and image parts
                content: Any = anthropic_parts(m["content"])
            else:
                content = str(m["content"]) or "(empty)"  # the API refuses empty text blocks
            if out and out[-1]["role"] == role:
                out[-1]["content"] = _joined(out[-1]["content"], content)
            else:
                out.append({"role": role, "content": content})
        if not out or out[0]["role"] != "user":
            out.insert(0, {"role": "user", "content": "Begin."})
        return out

    def request(self, system: str, messages: list[dict], wire: dict | None, temperature: float | None,
                max_tokens: int) -> dict[str, Any]:
        params: dict[str, Any] = {"model": self.ref.name, "max_tokens": max_tokens,
                                  "messages": self._messages(messages)}
        if system:
            params["system"] = [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}]
        if temperature is not None and self._takes_temperature:
            params["temperature"] = temperature
        if wire:
            params["tools"] = [{"name": t["name"], "description": t["description"], "input_schema": t["parameters"]}
                               for t in wire["tools"]]
            params["tools"][-1]["cache_control"] = {"type": "ephemeral"}
            params["tool_choice"] = {"type": "auto"} if wire.get("bodies") else {"type": "any"}
        _keep_breakpoints(params, MAX_BREAKPOINTS)
        return params

    def call(self, system: str, messages: list[dict], wire: dict | None, temperature: float | None,
             max_tokens: int, cache_key: str | None = None) -> dict[str, Any]:
        # Anthropic caches at the marked breakpoints, not by a routing key: `cache_key` is not sent.
        return self._send(self.request(system, messages, wire, temperature, max_tokens))

    def chat(self, request: dict[str, Any]) -> dict[str, Any]:
        """One experiment program's chat request (`labcoat.llm.chat`); a JSON schema becomes a forced tool."""
        system, messages = split_system(request["messages"])
        fmt = request.get("response_format") or {}
        schema = (fmt.get("json_schema") or {}).get("schema") if fmt.get("type") == "json_schema" else None
        params = self.request(system, messages, None, request.get("temperature"), request["max_tokens"])
        if request.get("top_p") is not None:
            params["top_p"] = request["top_p"]
        if request.get("stop"):
            params["stop_sequences"] = list(request["stop"])
        if schema is not None:
            params["tools"] = [{"name": "reply", "description": "Reply with this JSON document.",
                                "input_schema": schema}]
            params["tool_choice"] = {"type": "tool", "name": "reply"}
        raw = self._send(params)
        if schema is not None and raw["tool_calls"]:
            # The program asked for a JSON reply in the text, as OpenAI's structured outputs give it.
            raw["text"], raw["tool_calls"] = raw["tool_calls"][0]["arguments"], []
        return raw

    def _send(self, params: dict[str, Any]) -> dict[str, Any]:
        started = time.monotonic()
        resp = self.client.messages.create(**params)
        latency = time.monotonic() - started
        texts, calls = [], []
        for block in resp.content:
            if block.type == "text":
                texts.append(block.text)
            elif block.type == "tool_use":
                calls.append({"name": block.name, "arguments": json.dumps(block.input, ensure_ascii=False)})
        u = resp.usage
        reads = getattr(u, "cache_read_input_tokens", None) or 0
        writes = getattr(u, "cache_creation_input_tokens", None) or 0
        usage = Usage(input_tokens=(u.input_tokens or 0) + reads + writes, cached_tokens=reads,
                      cache_write_tokens=writes, output_tokens=u.output_tokens or 0)
        return completion("\n".join(texts), tool_calls=calls, finish_reason=resp.stop_reason, usage=usage,
                          model=resp.model or self.ref.name, latency_s=latency)


def _keep_breakpoints(params: dict[str, Any], limit: int) -> None:
    """Unmark the earliest message breakpoints past `limit` (the API refuses more): a later
    breakpoint's prefix holds the earlier ones, so the latest are worth most."""
    blocks = [b for m in params["messages"] if isinstance(m["content"], list) for b in m["content"]]
    marked = [b for b in blocks if b.get("cache_control")]
    fixed = sum(1 for b in [*params.get("tools", []), *params.get("system", [])] if b.get("cache_control"))
    for block in marked[:max(0, len(marked) + fixed - limit)]:
        del block["cache_control"]


def _joined(first: Any, second: Any) -> Any:
    """Two contents of one turn as one: text joined, or blocks in order."""
    if isinstance(first, str) and isinstance(second, str):
        return first + "\n\n" + second
    blocks = [{"type": "text", "text": c} if isinstance(c, str) else c for c in (first, second)]
    return [b for block in blocks for b in (block if isinstance(block, list) else [block])]
