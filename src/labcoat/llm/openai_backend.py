"""OpenAI-compatible chat completions through the official `openai` SDK.

Serves OpenAI, DeepSeek, Gemini's compatible endpoint, OpenRouter, Ollama,
vLLM, llama.cpp and the embedded local server. Commands travel as function
tools (strict on OpenAI itself) or, in `json` mode, as a `json_schema`
response format. OpenAI caches prompt prefixes of 1024 tokens and more on its
own; `prompt_cache_key` (one per run and role) routes a role's calls to the
machine that holds their prefix. Reasoning models (o1/o3/o4, gpt-5): no temperature,
`max_completion_tokens`, no `parallel_tool_calls`, the system prompt as a
`developer` message; o1-mini
and o1-preview take neither system/developer messages nor tools nor response
formats, so their instructions lead the first user message and the command
is read from the JSON in their text. Reasoning and cached tokens come from
the usage details. Gemini gets its tool schemas in its own OpenAPI subset.
"""

from __future__ import annotations

import time
from typing import Any

import openai

from labcoat.llm.chat import split_system
from labcoat.llm.presets import ModelRef
from labcoat.llm.schema_dialects import for_gemini
from labcoat.llm.vision import openai_parts
from labcoat.llm.types import Usage, completion


class OpenAIBackend:
    def __init__(self, ref: ModelRef, *, base_url: str | None, api_key: str, timeout_s: float,
                 served_name: str | None = None):
        self.ref = ref
        self.served_name = served_name or ref.name
        self.client = openai.OpenAI(api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout_s)

    def close(self) -> None:
        self.client.close()

    def _messages(self, system: str, messages: list[dict]) -> list[dict]:
        out = [{"role": m["role"], "content": openai_parts(m["content"])} for m in messages]
        if not system:
            return out
        if self.ref.legacy_reasoning:
            for m in out:
                if m["role"] == "user":
                    m["content"] = (f"{system}\n\n{m['content']}" if isinstance(m["content"], str)
                                    else [{"type": "text", "text": system}, *m["content"]])
                    return out
            return [{"role": "user", "content": system}, *out]
        role = "developer" if self.ref.reasoning and self.ref.preset.name == "openai" else "system"
        return [{"role": role, "content": system}, *out]

    def request(self, system: str, messages: list[dict], wire: dict | None, temperature: float | None,
                max_tokens: int, cache_key: str | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"model": self.served_name, "messages": self._messages(system, messages)}
        if cache_key and self.ref.preset.name == "openai":  # other OpenAI-compatible servers may refuse it
            params["prompt_cache_key"] = cache_key
        if self.ref.reasoning or self.ref.preset.name == "openai":
            params["max_completion_tokens"] = max_tokens
        else:
            params["max_tokens"] = max_tokens
        if temperature is not None and not self.ref.reasoning:
            params["temperature"] = temperature
        if wire and wire["mode"] == "tools":
            strict = self.ref.preset.strict_tools
            gemini = self.ref.preset.name == "gemini"
            params["tools"] = [{"type": "function", "function": {
                "name": t["name"], "description": t["description"],
                "parameters": for_gemini(t["parameters"]) if gemini else t["parameters"],
                **({"strict": True} if strict else {})}} for t in wire["tools"]]
            params["tool_choice"] = "auto" if wire.get("bodies") else "required"
            if self.ref.preset.name == "openai" and not self.ref.reasoning:  # reasoning models refuse it
                params["parallel_tool_calls"] = False
        elif wire and not self.ref.legacy_reasoning:
            params["response_format"] = {"type": "json_schema", "json_schema": {
                "name": "reply", "schema": wire["schema"], "strict": True}}
        return params

    def call(self, system: str, messages: list[dict], wire: dict | None, temperature: float | None,
             max_tokens: int, cache_key: str | None = None) -> dict[str, Any]:
        return self._send(self.request(system, messages, wire, temperature, max_tokens, cache_key))

    def chat(self, request: dict[str, Any]) -> dict[str, Any]:
        """One experiment program's chat request (`labcoat.llm.chat`), sent as this provider wants it."""
        system, messages = split_system(request["messages"])
        params = self.request(system, messages, None, request.get("temperature"), request["max_tokens"])
        for name in ("top_p", "stop", "seed"):
            if request.get(name) is not None and not self.ref.reasoning:
                params[name] = request[name]
        if request.get("response_format") is not None:
            params["response_format"] = request["response_format"]
        return self._send(params)

    def _send(self, params: dict[str, Any]) -> dict[str, Any]:
        started = time.monotonic()
        resp = self.client.chat.completions.create(**params)
        latency = time.monotonic() - started
        choice = resp.choices[0] if resp.choices else None
        message = choice.message if choice else None
        calls = [{"name": c.function.name, "arguments": c.function.arguments or ""}
                 for c in (getattr(message, "tool_calls", None) or []) if getattr(c, "function", None)]
        return completion(getattr(message, "content", None), tool_calls=calls,
                          finish_reason=choice.finish_reason if choice else None,
                          usage=_usage(resp.usage), model=resp.model or self.served_name, latency_s=latency)


def _usage(u: Any) -> Usage:
    if u is None:
        return Usage()
    prompt_details = getattr(u, "prompt_tokens_details", None)
    output_details = getattr(u, "completion_tokens_details", None)
    return Usage(input_tokens=u.prompt_tokens or 0, output_tokens=u.completion_tokens or 0,
                 cached_tokens=getattr(prompt_details, "cached_tokens", None) or 0,
                 reasoning_tokens=getattr(output_details, "reasoning_tokens", None) or 0)
