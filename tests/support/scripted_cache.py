"""Prompt caching as the real services report it (tests only).

OpenAI caches on its own: a prompt (tools and response format first, then the
messages) is served from cache as far as it repeats an earlier prompt, counted
in steps of 128 tokens from a minimum of 1024; shorter prompts are never cached.

Anthropic caches only at marked breakpoints (`cache_control` on a tool, a
system block or a message block), at most 4 a request (more is a 400, as is a
mark on an empty text block). A breakpoint caches the prefix up to and
including its block, in the order tools, system, messages, when that prefix
reaches the model's minimum (1024 to 4096 tokens; shorter ones are silently not
cached). The usage then splits the prompt into `cache_read_input_tokens` (the
longest marked prefix seen before), `cache_creation_input_tokens` (from there to
the last cacheable breakpoint) and `input_tokens` (the rest).

Tokens are ~4 characters, as everywhere in the scripted provider.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading

CHARS_PER_TOKEN = 4
OPENAI_MIN, OPENAI_STEP = 1024, 128
MAX_BREAKPOINTS = 4
# Anthropic's minimum cacheable prompt per model family, as its prompt-caching page lists them.
ANTHROPIC_MIN = [(re.compile(r"claude-(opus-4-[56]|haiku-4)"), 4096),
                 (re.compile(r"claude-sonnet-4-6"), 2048),
                 (re.compile(r"claude-(3-haiku|3-5-haiku)"), 2048)]
ANTHROPIC_DEFAULT_MIN = 1024


def anthropic_min(model: str) -> int:
    return next((n for pattern, n in ANTHROPIC_MIN if pattern.search(model)), ANTHROPIC_DEFAULT_MIN)


def anthropic_cache_refusal(body: dict) -> str | None:
    """The 400 Anthropic sends for misplaced cache marks, or None."""
    marked = [(where, block) for where, block in _anthropic_blocks(body) if block.get("cache_control")]
    if len(marked) > MAX_BREAKPOINTS:
        return f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. Found {len(marked)}."
    for where, block in marked:
        if block.get("type", "text") == "text" and "text" in block and not block["text"]:
            return f"{where}.text: cache_control cannot be set for empty text blocks"
    return None


def _anthropic_blocks(body: dict) -> list[tuple[str, dict]]:
    """Every block of the prompt in cache order (tools, system, messages), with where it sits."""
    out: list[tuple[str, dict]] = [(f"tools.{i}", t) for i, t in enumerate(body.get("tools") or [])]
    system = body.get("system")
    if isinstance(system, str) and system:
        out.append(("system", {"type": "text", "text": system}))
    elif isinstance(system, list):
        out += [(f"system.{i}", b) for i, b in enumerate(system)]
    for i, m in enumerate(body.get("messages") or []):
        content = m.get("content")
        if isinstance(content, list):
            out += [(f"messages.{i}.content.{j}", {**b, "role": m.get("role")}) for j, b in enumerate(content)]
        else:
            out.append((f"messages.{i}.content", {"type": "text", "text": str(content), "role": m.get("role")}))
    return out


class PromptCache:
    """What one provider account has cached so far (the services keep minutes; a test run is shorter)."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def _hits(self, digests: list[str]) -> list[bool]:
        with self._lock:
            hits = [d in self._seen for d in digests]
            self._seen.update(digests)
        return hits

    def openai(self, body: dict) -> tuple[int, int]:
        """(prompt tokens, cached tokens) of a chat completions request."""
        text = (json.dumps(body.get("tools") or "") + json.dumps(body.get("response_format") or "")
                + json.dumps(body.get("messages")))
        prompt = len(text) // CHARS_PER_TOKEN + 1
        chunk = OPENAI_STEP * CHARS_PER_TOKEN
        running, digests = hashlib.sha256(b"openai\n"), []
        for start in range(0, len(text) - chunk + 1, chunk):
            running.update(text[start:start + chunk].encode())
            digests.append(running.copy().hexdigest())
        cached = 0
        for n, hit in enumerate(self._hits(digests), start=1):
            if hit and n * OPENAI_STEP >= OPENAI_MIN:
                cached = n * OPENAI_STEP
        return prompt, min(cached, prompt)

    def anthropic(self, body: dict) -> tuple[int, int, int]:
        """(fresh input, cache read, cache write) tokens of a messages request."""
        minimum = anthropic_min(str(body.get("model", "")))
        running, chars, marks = hashlib.sha256(b"anthropic\n"), 0, []
        for _where, block in _anthropic_blocks(body):
            piece = json.dumps({k: v for k, v in block.items() if k != "cache_control"}, sort_keys=True)
            running.update(piece.encode())
            chars += len(piece)
            if block.get("cache_control") and chars // CHARS_PER_TOKEN >= minimum:
                marks.append((running.copy().hexdigest(), chars // CHARS_PER_TOKEN))
        whole = chars // CHARS_PER_TOKEN + 1
        hits = self._hits([d for d, _ in marks])
        read = max((tokens for (_, tokens), hit in zip(marks, hits) if hit), default=0)
        write = max(marks[-1][1] - read, 0) if marks else 0
        return max(whole - read - write, 1), read, write

