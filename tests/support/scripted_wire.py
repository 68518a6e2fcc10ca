"""Wire formats of the scripted provider: what the real APIs refuse, and how a reply is rendered.

Refusals mirror the real services' HTTP 400s (messages as they word them):
- Anthropic without `max_tokens`, with a `system` role inside `messages`, or with an
  empty text message;
- OpenAI reasoning models (o1/o3/o4, gpt-5) given `max_tokens`, `parallel_tool_calls`
  or a non-default temperature; o1-mini/o1-preview given a system/developer message,
  tools or a response format;
- any strict schema (json_schema response format or strict tool) whose objects do not
  list every property in `required` with `additionalProperties: false`, or that
  carries `default`;
- Gemini given tool schemas outside its OpenAPI subset (`additionalProperties`,
  `$ref`, `const`, `title`, `default`, ...);
- images: an `image_url` part (OpenAI wire) or an `image` block (Anthropic) sent to
  a text-only model, outside a user message, or not a base64 PNG/JPEG/GIF/WebP.
  Which models see images is this double's own list of the real services
  (`OPENAI_VISION`, `ANTHROPIC_TEXT_ONLY`), kept apart from labcoat's table.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import Any

REASONING = re.compile(r"^(o\d|gpt-5)")
# models behind an OpenAI-wire endpoint that take image_url parts (gpt-3.5, o1-mini, o3-mini, deepseek-chat do not)
OPENAI_VISION = re.compile(r"^(gpt-4o|chatgpt-4o|gpt-4\.1|gpt-4-turbo|gpt-5|o1(-\d|$)|o3(-\d|$)|o4-mini|gemini-"
                           r"|llava|llama3\.2-vision|qwen2\.5vl)")
ANTHROPIC_TEXT_ONLY = ("claude-2", "claude-instant")
IMAGE_TYPES = {"image/png": b"\x89PNG", "image/jpeg": b"\xff\xd8", "image/gif": b"GIF8", "image/webp": b"RIFF"}
LEGACY = ("o1-mini", "o1-preview")


@dataclass
class CommandReply:
    """A command the scripted model sends; fields absent from the tool's parameters travel as fenced blocks."""

    name: str
    fields: dict[str, Any] = field(default_factory=dict)
    body: str | None = None
    lang: str = "python"
    text: str = ""


def reply_command(name: str, *, body: str | None = None, lang: str = "python", text: str = "",
                  **fields: Any) -> CommandReply:
    """A policy's answer: `reply_command("run_code", body="print(1)")` or `reply_command("search", query="x")`."""
    return CommandReply(name, dict(fields), body, lang, text)


@dataclass
class Truncated:
    """The model hits max_tokens mid-reply: finish_reason length / stop_reason max_tokens, output cut."""

    reply: Any


@dataclass
class Fault:
    """An HTTP-level fault: a status with headers, a hang, or a 200 whose JSON body is cut."""

    kind: str  # "status", "hang", "broken_body"
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    message: str = "The server had an error while processing your request."
    seconds: float = 5.0


def rate_limited(retry_after: float | None = 0.01) -> Fault:
    headers = {} if retry_after is None else {"retry-after": str(retry_after)}
    return Fault("status", 429, headers, "Rate limit reached. Please try again later.")


def server_error(status: int = 500) -> Fault:
    return Fault("status", status)


def hang(seconds: float = 5.0) -> Fault:
    return Fault("hang", seconds=seconds)


BROKEN_BODY = Fault("broken_body", 200)


# -- refusals ------------------------------------------------------------------
def _strict_problem(schema: Any, where: str = "") -> str | None:
    if isinstance(schema, dict):
        if "default" in schema and not isinstance(schema.get("default"), dict):
            return f"In context=({where}), 'default' is not permitted."
        if schema.get("type") == "object" or "properties" in schema:
            props = list((schema.get("properties") or {}).keys())
            if schema.get("additionalProperties") is not False:
                return f"In context=({where}), 'additionalProperties' is required to be supplied and to be false."
            missing = [p for p in props if p not in (schema.get("required") or [])]
            if missing:
                return (f"In context=({where}), 'required' is required to be supplied and to be an array including "
                        f"every key in properties. Missing '{missing[0]}'.")
        for key, value in schema.items():
            if key in ("properties", "$defs") and isinstance(value, dict):
                for name, sub in value.items():
                    found = _strict_problem(sub, f"{where}, '{key}', '{name}'" if where else f"'{key}', '{name}'")
                    if found:
                        return found
                continue
            found = _strict_problem(value, f"{where}, '{key}'" if where else f"'{key}'")
            if found:
                return found
    elif isinstance(schema, list):
        for i, item in enumerate(schema):
            found = _strict_problem(item, f"{where}, {i}")
            if found:
                return found
    return None


GEMINI_UNKNOWN = ("additionalProperties", "$defs", "$ref", "const", "title", "default", "$schema")


def _gemini_unknown(schema: Any) -> str | None:
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key in GEMINI_UNKNOWN:
                return key
            if key == "properties" and isinstance(value, dict):
                found = next((f for f in map(_gemini_unknown, value.values()) if f), None)
            else:
                found = _gemini_unknown(value)
            if found:
                return found
    elif isinstance(schema, list):
        return next((f for f in map(_gemini_unknown, schema) if f), None)
    return None


def _image_problem(media_type: str, data: str) -> str | None:
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return "invalid base64 data"
    magic = IMAGE_TYPES.get(media_type)
    if magic is None:
        return f"unsupported media type {media_type}"
    if not raw.startswith(magic):
        return f"the image data is not {media_type}"
    return None


def _openai_image_refusal(model: str, messages: list) -> tuple[str, str | None] | None:
    for i, m in enumerate(messages):
        content = m.get("content")
        if not isinstance(content, list):
            continue
        for j, part in enumerate(content):
            if part.get("type") != "image_url":
                continue
            if not OPENAI_VISION.match(model):
                if model.startswith("deepseek"):
                    return ("Failed to deserialize the JSON body into the target type: messages[%d]: unknown variant "
                            "`image_url`, expected `text`" % i), None
                return "Invalid content type. image_url is only supported by certain models.", \
                    f"messages.[{i}].content.[{j}].type"
            if m.get("role") != "user":
                return "Image URLs are only allowed for messages with role 'user'", f"messages.[{i}].content.[{j}]"
            url = str((part.get("image_url") or {}).get("url", ""))
            found = re.match(r"data:(image/[a-z]+);base64,(.*)\Z", url, re.DOTALL)
            if not found or _image_problem(found.group(1), found.group(2)):
                return ("You uploaded an unsupported image. Please make sure your image has of one the following "
                        "formats: ['png', 'jpeg', 'gif', 'webp']."), f"messages.[{i}].content.[{j}].image_url"
    return None


def openai_refusal(body: dict) -> tuple[str, str | None] | None:
    """(message, param) of the 400 OpenAI would send, or None."""
    model = str(body.get("model", "")).rsplit("/", 1)[-1]
    if not body.get("messages"):
        return "[] is too short - 'messages'", "messages"
    image = _openai_image_refusal(model, body["messages"])
    if image:
        return image
    if REASONING.match(model):
        if "max_tokens" in body:
            return ("Unsupported parameter: 'max_tokens' is not supported with this model. "
                    "Use 'max_completion_tokens' instead."), "max_tokens"
        if "parallel_tool_calls" in body:
            return "Unsupported parameter: 'parallel_tool_calls' is not supported with this model.", \
                "parallel_tool_calls"
        temp = body.get("temperature")
        if temp is not None and temp != 1:
            return (f"Unsupported value: 'temperature' does not support {temp} with this model. "
                    "Only the default (1) value is supported."), "temperature"
        if model.startswith(LEGACY):
            if any(m.get("role") in ("system", "developer") for m in body["messages"]):
                return ("Unsupported value: 'messages[0].role' does not support 'system' with this model."), \
                    "messages[0].role"
            for param in ("tools", "response_format"):
                if param in body:
                    return f"Unsupported parameter: '{param}' is not supported with this model.", param
    if model.startswith("gemini"):
        for i, tool in enumerate(body.get("tools") or []):
            bad = _gemini_unknown(tool.get("function", {}).get("parameters"))
            if bad:
                return (f"Invalid JSON payload received. Unknown name \"{bad}\" at "
                        f"'tools[0].function_declarations[{i}].parameters': Cannot find field."), None
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema" and fmt.get("json_schema", {}).get("strict"):
        problem = _strict_problem(fmt["json_schema"].get("schema"))
        if problem:
            return f"Invalid schema for response_format '{fmt['json_schema'].get('name')}': {problem}", \
                "response_format"
    for tool in body.get("tools") or []:
        fn = tool.get("function", {})
        if fn.get("strict"):
            problem = _strict_problem(fn.get("parameters"))
            if problem:
                return f"Invalid schema for function '{fn.get('name')}': {problem}", "tools"
    return None


def anthropic_refusal(body: dict) -> str | None:
    if "max_tokens" not in body:
        return "max_tokens: Field required"
    for i, m in enumerate(body.get("messages") or []):
        if m.get("role") not in ("user", "assistant"):
            return (f"messages.{i}.role: Unexpected role \"{m.get('role')}\". The Messages API accepts a top-level "
                    "`system` parameter, not \"system\" as an input message role.")
        content = m.get("content")
        if content == "" or (isinstance(content, list) and any(b.get("type") == "text" and not b.get("text")
                                                               for b in content)):
            return f"messages.{i}: text content blocks must be non-empty"
        for j, block in enumerate(content if isinstance(content, list) else []):
            if block.get("type") != "image":
                continue
            if str(body.get("model", "")).startswith(ANTHROPIC_TEXT_ONLY):
                return f"messages.{i}.content.{j}: Image input is not supported by {body.get('model')}."
            source = block.get("source") or {}
            if source.get("type") != "base64":
                return f"messages.{i}.content.{j}.image.source: Input tag '{source.get('type')}' does not match"
            if source.get("media_type") not in IMAGE_TYPES:
                return (f"messages.{i}.content.{j}.image.source.base64.media_type: Input should be 'image/jpeg', "
                        "'image/png', 'image/gif' or 'image/webp'")
            problem = _image_problem(source["media_type"], str(source.get("data", "")))
            if problem:
                return f"messages.{i}.content.{j}.image.source.base64: {problem}"
    if not body.get("messages"):
        return "messages: at least one message is required"
    temp = body.get("temperature")
    if temp is not None and not 0 <= temp <= 1:
        return "temperature: range: 0..1"
    return None


# -- rendering -----------------------------------------------------------------
def tool_properties(request_tools: list[dict], name: str, api: str) -> set[str] | None:
    for tool in request_tools or []:
        spec = tool.get("function", tool) if api == "openai" else tool
        if spec.get("name") == name:
            params = spec.get("parameters") if api == "openai" else spec.get("input_schema")
            return set((params or {}).get("properties", {}))
    return None


def json_document(reply: CommandReply, schema: dict | None) -> dict:
    doc = {"command": reply.name, **reply.fields}
    if reply.body is not None:
        variants = (schema or {}).get("properties", {}).get("reply", {}).get("anyOf") or [schema or {}]
        for variant in variants:
            props = variant.get("properties", {})
            if props.get("command", {}).get("const") in (reply.name, None):
                free = [p for p in props if p not in doc]
                if free:
                    doc[free[0]] = reply.body
                    break
        else:
            doc["body"] = reply.body
    if schema and "reply" in schema.get("properties", {}):
        return {"reply": doc}
    return doc


def split_fields(reply: CommandReply, props: set[str] | None) -> tuple[dict, list[tuple[str, str]]]:
    """(tool arguments, fenced blocks) for tools mode."""
    args, blocks = {}, []
    for key, value in reply.fields.items():
        if props is None or key in props:
            args[key] = value
        else:
            blocks.append((reply.lang, str(value)))
    if reply.body is not None:
        blocks.append((reply.lang, reply.body))
    return args, blocks


def fenced_text(text: str, blocks: list[tuple[str, str]]) -> str:
    parts = [text] if text else []
    parts += [f"```{lang}\n{body}\n```" for lang, body in blocks]
    return "\n\n".join(parts)


def approx_tokens(text: str) -> int:
    return max(1, (len(text) + 3) // 4) if text else 0


def cut(text: str) -> str:
    return text[: max(1, len(text) // 2)]


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
