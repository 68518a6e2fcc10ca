"""Plain chat requests: what an experiment program asks a model through the gateway.

A chat request is a JSON-able dict, recorded as it is (never a key):
`model` (a labcoat model id such as `openai:gpt-4o-mini`), `messages`
(`role` system/user/assistant, `content` text), `max_tokens`, and optionally
`temperature`, `top_p`, `stop` (list), `seed` and `response_format` (OpenAI's
`json_schema` / `json_object` shapes). Each backend's `chat(request)` sends it
the way its provider wants (system prompt placement, token parameter names,
a JSON schema as a forced tool on Anthropic) and returns a completion dict
(`labcoat.llm.types.completion`).
"""

from __future__ import annotations

from typing import Any

CHAT_FIELDS = ("model", "messages", "max_tokens", "temperature", "top_p", "stop", "seed", "response_format")


def split_system(messages: list[dict[str, Any]]) -> tuple[str, list[dict[str, str]]]:
    """(system text, the other messages): system messages anywhere are joined into one prefix."""
    system = [str(m["content"]) for m in messages if m["role"] in ("system", "developer")]
    rest = [{"role": m["role"], "content": str(m["content"])} for m in messages
            if m["role"] not in ("system", "developer")]
    return "\n\n".join(system), rest


def prompt_chars(request: dict[str, Any]) -> int:
    """Characters the provider reads, for the budget's worst-case estimate."""
    chars = sum(len(str(m.get("content", ""))) for m in request.get("messages", []))
    if request.get("response_format"):
        chars += len(str(request["response_format"]))
    return chars
