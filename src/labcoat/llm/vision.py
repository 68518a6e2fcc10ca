"""Images in messages: which models accept them, and the image content part.

`VISION` is the one table of the models that accept image input, per
preset: a model not matched here is text-only, and labcoat never sends it
an image (the real APIs answer such a request with HTTP 400). A message's
`content` is a string, or a list of parts: `{"type": "text", "text": ...}`
(`cached_text` flags one as a cache breakpoint) and `image_part(path)`. The
run store records an image by its SHA-256, never its bytes; the backends put the bytes on the wire (OpenAI `image_url` data
URLs, Anthropic base64 `image` blocks).
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Any

from labcoat.llm.presets import ModelRef

# preset -> pattern of the model names (the part after "provider:", OpenRouter's "vendor/" included)
VISION: dict[str, re.Pattern[str]] = {
    "openai": re.compile(r"^(gpt-4o|chatgpt-4o|gpt-4\.1|gpt-4-turbo|gpt-4\.5|gpt-5|o1(?!-mini|-preview)|o3(?!-mini)"
                         r"|o4-mini)"),
    "anthropic": re.compile(r"^claude-(3|opus-4|sonnet-4|haiku-4)"),
    "gemini": re.compile(r"^gemini-"),
    "openrouter": re.compile(r"^(openai/(gpt-4o|gpt-4\.1|gpt-5|o3(?!-mini)|o4-mini)|anthropic/claude-(3|opus-4|sonnet-4"
                             r"|haiku-4)|google/gemini-|meta-llama/llama-3\.2-\d+b-vision|qwen/qwen2\.5-vl)"),
    "ollama": re.compile(r"^(llava|bakllava|llama3\.2-vision|qwen2\.5vl|gemma3:(4b|12b|27b)|minicpm-v|moondream)"),
    "vllm": re.compile(r"(?i)(-vl-|-vl$|vision|llava|pixtral)"),
}
MEDIA_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
               ".webp": "image/webp"}


def accepts_images(ref: ModelRef) -> bool:
    pattern = VISION.get(ref.preset.name)
    return bool(pattern and pattern.search(ref.name))


def image_part(path: Path) -> dict[str, str]:
    """An image content part from a PNG, JPEG, GIF or WebP file."""
    media = MEDIA_TYPES.get(path.suffix.lower())
    if media is None:
        raise ValueError(f"{path.name}: models take PNG, JPEG, GIF or WebP images, not {path.suffix or 'no suffix'}")
    data = path.read_bytes()
    return {"type": "image", "media_type": media, "sha256": hashlib.sha256(data).hexdigest(),
            "data": base64.b64encode(data).decode("ascii")}


def text_of(content: Any) -> str:
    """The text of a message's content, images left out."""
    if isinstance(content, str):
        return content
    return "\n\n".join(str(p.get("text", "")) for p in content or [] if p.get("type") == "text")


def has_images(content: Any) -> bool:
    return isinstance(content, list) and any(p.get("type") == "image" for p in content)


def for_record(content: Any) -> Any:
    """The content as the run store records it: each image by its hash."""
    if isinstance(content, str):
        return content
    return [{k: v for k, v in part.items() if k != "data"} for part in content]


def cached_text(text: str) -> dict[str, Any]:
    """A text part flagged as a cache breakpoint: the prompt up to here recurs in other calls (a paper every
    reviewer reads). Providers that cache at marks (Anthropic) mark it; the others cache prefixes anyway."""
    return {"type": "text", "text": text, "cache": True}


def openai_parts(content: Any) -> Any:
    if isinstance(content, str):
        return content
    if not has_images(content):  # text parts as one string, as every OpenAI-compatible server takes it
        return text_of(content)
    return [{"type": "text", "text": p["text"]} if p["type"] == "text" else
            {"type": "image_url", "image_url": {"url": f"data:{p['media_type']};base64,{p['data']}"}}
            for p in content]


def anthropic_parts(content: Any) -> Any:
    if isinstance(content, str):
        return content
    out: list[dict[str, Any]] = []
    for p in content:
        if p["type"] == "text":
            block: dict[str, Any] = {"type": "text", "text": p["text"] or "(empty)"}  # empty blocks are refused
            if p.get("cache"):
                block["cache_control"] = {"type": "ephemeral"}
            out.append(block)
        else:
            out.append({"type": "image", "source": {"type": "base64", "media_type": p["media_type"],
                                                    "data": p["data"]}})
    return out
