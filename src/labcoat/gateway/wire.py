"""What programs send the gateway and what it answers, in OpenAI's and Anthropic's shapes.

`from_openai(body, grant)` and `from_anthropic(body, grant)` turn a program's
request into a plain chat request (`labcoat.llm.chat`) or raise `Refused`
with the HTTP status and the reason; the response renderers turn a recorded
completion back into each API's JSON (and OpenAI's server-sent events when
the program asked to stream: the call itself is made whole, so it can be
recorded and replayed, then sent as chunks).
"""

from __future__ import annotations

import json
import time
from typing import Any

from labcoat.errors import ConfigError
from labcoat.llm.presets import parse_model

# Parameters an SDK sends that change nothing about the answer.
HARMLESS = {"stream", "stream_options", "user", "metadata", "store", "service_tier", "n", "parallel_tool_calls"}
ROLES = {"system", "developer", "user", "assistant"}


class Refused(Exception):
    """A request the gateway will not send: `status` and a reason the program can read."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", param: str | None = None):
        self.status = status
        self.message = message
        self.kind = kind
        self.param = param
        super().__init__(message)

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.kind}}


def _text(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for i, part in enumerate(content):
            if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                parts.append(part["text"])
            else:
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise Refused(400, f"{where}[{i}]: only text content goes through the gateway (got {kind!r})",
                              param=where)
        return "\n".join(parts)
    raise Refused(400, f"{where}: content must be a string or a list of text parts", param=where)


def _messages(raw: Any, where: str = "messages") -> list[dict[str, str]]:
    if not isinstance(raw, list) or not raw:
        raise Refused(400, f"{where} must be a non-empty list of {{role, content}} objects", param=where)
    out = []
    for i, m in enumerate(raw):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            raise Refused(400, f"{where}[{i}]: role must be one of {sorted(ROLES)}", param=f"{where}[{i}]")
        role = "system" if m["role"] == "developer" else m["role"]
        out.append({"role": role, "content": _text(m.get("content"), f"{where}[{i}].content")})
    return out


def resolve_model(name: Any, allowed: tuple[str, ...]) -> str:
    """The labcoat model id for `name` if the program may call it; 403 naming the allowed ones otherwise."""
    if not isinstance(name, str) or not name.strip():
        raise Refused(400, f"`model` is required; allowed: {', '.join(allowed)}", param="model")
    try:
        ref = parse_model(name)
    except ConfigError:
        ref = None
    # A provider's dated snapshot name (gpt-4o-mini-2024-07-18) asks for the model it snapshots.
    candidates = {ref.id, ref.name} if ref else {name.strip()}
    for model in allowed:
        allowed_ref = parse_model(model)
        if candidates & {allowed_ref.id, allowed_ref.name} or (
                ref and ref.preset == allowed_ref.preset and ref.name.startswith(allowed_ref.name + "-20")):
            return allowed_ref.id
    raise Refused(403, f"model {name!r} is not allowed for experiments; allowed: {', '.join(allowed)} "
                       "(config key experiments.models)", kind="model_not_allowed", param="model")


def _number(body: dict, name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise Refused(400, f"`{name}` must be a number from {low} to {high} (got {value!r})", param=name)
    return float(value)


def _max_tokens(value: Any, cap: int, name: str) -> int:
    if value is None:
        return cap
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise Refused(400, f"`{name}` must be a positive integer (got {value!r})", param=name)
    if value > cap:
        raise Refused(400, f"`{name}` {value} is over this program's limit of {cap} tokens per call "
                           "(config key experiments.max_tokens_per_call)", kind="limit_exceeded", param=name)
    return value


def _stop(value: Any) -> list[str] | None:
    if value is None:
        return None
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops) or len(stops) > 4:
        raise Refused(400, "`stop` must be a string or a list of up to 4 strings", param="stop")
    return stops


def _response_format(value: Any) -> dict | None:
    if value is None or value == {"type": "text"}:
        return None
    if not isinstance(value, dict) or value.get("type") not in ("json_schema", "json_object"):
        raise Refused(400, "`response_format` must be {type: json_schema, json_schema: {...}} or "
                           "{type: json_object}", param="response_format")
    if value["type"] == "json_schema" and not isinstance((value.get("json_schema") or {}).get("schema"), dict):
        raise Refused(400, "`response_format.json_schema.schema` must be a JSON schema object",
                      param="response_format")
    return value


def from_openai(body: Any, allowed: tuple[str, ...], max_tokens: int) -> dict[str, Any]:
    """A chat-completions body -> a chat request (or `Refused`)."""
    if not isinstance(body, dict):
        raise Refused(400, "the request body must be a JSON object")
    if body.get("n", 1) != 1:
        raise Refused(400, "`n` must be 1 through the gateway: make one call per sample", param="n")
    unknown = sorted(set(body) - {"model", "messages", "max_tokens", "max_completion_tokens", "temperature",
                                   "top_p", "stop", "seed", "response_format"} - HARMLESS)
    if unknown:
        raise Refused(400, f"unsupported parameter(s) through the gateway: {', '.join(unknown)} (supported: "
                           "model, messages, max_tokens, temperature, top_p, stop, seed, response_format, stream)",
                      param=unknown[0])
    cap = body.get("max_completion_tokens", body.get("max_tokens"))
    request = {"model": resolve_model(body.get("model"), allowed), "messages": _messages(body.get("messages")),
               "max_tokens": _max_tokens(cap, max_tokens, "max_tokens"),
               "temperature": _number(body, "temperature", 0, 2), "top_p": _number(body, "top_p", 0, 1),
               "stop": _stop(body.get("stop")), "seed": body.get("seed") if isinstance(body.get("seed"), int) else None,
               "response_format": _response_format(body.get("response_format"))}
    return {k: v for k, v in request.items() if v is not None}


def from_anthropic(body: Any, allowed: tuple[str, ...], max_tokens: int) -> dict[str, Any]:
    """A Messages API body -> a chat request (or `Refused`)."""
    if not isinstance(body, dict):
        raise Refused(400, "the request body must be a JSON object")
    if body.get("stream"):
        raise Refused(400, "streaming is served on /v1/chat/completions; call messages without stream",
                      param="stream")
    if "max_tokens" not in body:
        raise Refused(400, "max_tokens: Field required", param="max_tokens")
    system = body.get("system")
    messages = _messages(body.get("messages"))
    if system:
        messages = [{"role": "system", "content": _text(system, "system")}, *messages]
    request = {"model": resolve_model(body.get("model"), allowed), "messages": messages,
               "max_tokens": _max_tokens(body.get("max_tokens"), max_tokens, "max_tokens"),
               "temperature": _number(body, "temperature", 0, 1), "top_p": _number(body, "top_p", 0, 1),
               "stop": _stop(body.get("stop_sequences"))}
    return {k: v for k, v in request.items() if v is not None}


def openai_response(raw: dict, call_id: str, model: str) -> dict[str, Any]:
    usage = raw.get("usage") or {}
    return {"id": f"chatcmpl-{call_id}", "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": raw.get("text") or ""},
                         "finish_reason": _finish(raw.get("finish_reason")), "logprobs": None}],
            "usage": {"prompt_tokens": usage.get("input_tokens", 0),
                      "completion_tokens": usage.get("output_tokens", 0),
                      "total_tokens": usage.get("input_tokens", 0) + usage.get("output_tokens", 0)}}


def openai_stream(raw: dict, call_id: str, model: str, include_usage: bool) -> list[bytes]:
    """The completion as chat.completion.chunk events (role, the text, the finish, [usage]), then [DONE]."""
    whole = openai_response(raw, call_id, model)
    base = {"id": whole["id"], "object": "chat.completion.chunk", "created": whole["created"], "model": model}
    chunks = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
              {**base, "choices": [{"index": 0, "delta": {"content": raw.get("text") or ""}, "finish_reason": None}]},
              {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": whole["choices"][0]["finish_reason"]}]}]
    if include_usage:
        chunks.append({**base, "choices": [], "usage": whole["usage"]})
    return [f"data: {json.dumps(c)}\n\n".encode() for c in chunks] + [b"data: [DONE]\n\n"]


def anthropic_response(raw: dict, call_id: str, model: str) -> dict[str, Any]:
    usage = raw.get("usage") or {}
    stop = {"length": "max_tokens", "stop": "end_turn"}.get(raw.get("finish_reason") or "", raw.get("finish_reason"))
    return {"id": f"msg_{call_id}", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": raw.get("text") or ""}], "stop_reason": stop or "end_turn",
            "stop_sequence": None, "usage": {"input_tokens": usage.get("input_tokens", 0),
                                             "output_tokens": usage.get("output_tokens", 0)}}


def _finish(reason: Any) -> str:
    return {"end_turn": "stop", "max_tokens": "length", "tool_use": "stop", "stop_sequence": "stop"}.get(
        str(reason), reason if reason in ("stop", "length", "content_filter") else "stop")
