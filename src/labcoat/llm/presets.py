"""Provider presets and model strings.

A model string is `provider:model` (`openai:gpt-4o`, `anthropic:claude-sonnet-4-5`,
`ollama:qwen2.5-coder:7b`, `local:smollm2`); only the first colon splits. Agent
Laboratory's bare names (`gpt-4o`, `o1-mini`, `deepseek-chat`, ...) map to their
preset. Each preset fixes the wire (`openai` SDK or `anthropic` SDK), how commands
travel (`tools`, or one constrained JSON document for servers whose tool calling
is weaker than their JSON-schema decoding), the default base URL, and the
environment variable holding the key. The base URL is overridden by
`services.provider_base_urls[preset]`, else by the preset's `*_BASE_URL` variable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from labcoat.errors import ConfigError


@dataclass(frozen=True)
class Preset:
    name: str
    wire: str  # "openai" or "anthropic"
    base_url: str | None
    key_env: str | None
    base_url_env: str | None
    mode: str = "tools"  # "tools" or "json"
    strict_tools: bool = False
    price_provider: str | None = None
    key_optional: bool = False
    local: bool = False


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("openai", "openai", "https://api.openai.com/v1", "OPENAI_API_KEY", "OPENAI_BASE_URL",
           strict_tools=True, price_provider="openai"),
    Preset("anthropic", "anthropic", "https://api.anthropic.com", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL",
           price_provider="anthropic"),
    Preset("deepseek", "openai", "https://api.deepseek.com", "DEEPSEEK_API_KEY", "DEEPSEEK_BASE_URL",
           price_provider="deepseek"),
    Preset("gemini", "openai", "https://generativelanguage.googleapis.com/v1beta/openai/", "GEMINI_API_KEY",
           "GEMINI_BASE_URL", price_provider="google"),
    Preset("openrouter", "openai", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY", "OPENROUTER_BASE_URL",
           price_provider="openrouter"),
    Preset("ollama", "openai", "http://127.0.0.1:11434/v1", "OLLAMA_API_KEY", "OLLAMA_BASE_URL", mode="json",
           key_optional=True, local=True),
    Preset("vllm", "openai", "http://127.0.0.1:8000/v1", "VLLM_API_KEY", "VLLM_BASE_URL", mode="json",
           key_optional=True, local=True),
    Preset("llamacpp", "openai", "http://127.0.0.1:8080/v1", "LLAMACPP_API_KEY", "LLAMACPP_BASE_URL", mode="json",
           key_optional=True, local=True),
    Preset("local", "openai", None, None, None, mode="json", key_optional=True, local=True),
)}
ALIASES = {"llama.cpp": "llamacpp", "llama-cpp": "llamacpp", "google": "gemini"}

# Agent Laboratory's model names.
BARE_NAMES = {
    "gpt-4o": "openai:gpt-4o", "gpt-4o-mini": "openai:gpt-4o-mini", "o1": "openai:o1",
    "o1-mini": "openai:o1-mini", "o1-preview": "openai:o1-preview", "o3-mini": "openai:o3-mini",
    "deepseek-chat": "deepseek:deepseek-chat",
}
# Models `labcoat models` lists for each preset (any other name the provider serves works too).
KNOWN_MODELS = {
    "openai": ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "o1", "o1-mini", "o3-mini", "o4-mini", "gpt-5", "gpt-5-mini"),
    "anthropic": ("claude-opus-4-6", "claude-sonnet-4-6", "claude-haiku-4-5"),
    "deepseek": ("deepseek-chat", "deepseek-reasoner"),
    "gemini": ("gemini-2.5-pro", "gemini-2.5-flash"),
    "openrouter": ("openai/gpt-4o-mini", "anthropic/claude-sonnet-4.5"),
    "ollama": ("qwen2.5-coder:7b", "llama3.1:8b"),
    "vllm": ("Qwen/Qwen2.5-7B-Instruct",),
    "llamacpp": ("default",),
    "local": ("smollm2",),
}
_BARE_PREFIXES = (("gpt-", "openai"), ("chatgpt-", "openai"), ("claude-", "anthropic"),
                  ("deepseek-", "deepseek"), ("gemini-", "gemini"))
_REASONING = re.compile(r"^(o\d|gpt-5)")
_LEGACY_REASONING = ("o1-mini", "o1-preview")  # no system/developer message, no tools, no response_format


@dataclass(frozen=True)
class ModelRef:
    preset: Preset
    name: str

    @property
    def id(self) -> str:
        return f"{self.preset.name}:{self.name}"

    @property
    def base(self) -> str:
        return self.name.rsplit("/", 1)[-1]

    @property
    def reasoning(self) -> bool:
        return self.preset.wire == "openai" and bool(_REASONING.match(self.base))

    @property
    def legacy_reasoning(self) -> bool:
        return self.reasoning and self.base.startswith(_LEGACY_REASONING)

    @property
    def mode(self) -> str:
        return "json" if self.legacy_reasoning else self.preset.mode


def parse_model(text: str) -> ModelRef:
    """`provider:model` or a known bare name -> ModelRef; a clear ConfigError otherwise."""
    raw = (text or "").strip()
    if raw in BARE_NAMES:
        raw = BARE_NAMES[raw]
    provider, sep, name = raw.partition(":")
    provider = ALIASES.get(provider.lower(), provider.lower())
    if not sep:
        for prefix, preset in _BARE_PREFIXES:
            if raw.startswith(prefix):
                return ModelRef(PRESETS[preset], raw)
        raise ConfigError(f"unknown model {text!r}: write it as provider:model with provider one of "
                          f"{', '.join(PRESETS)}", path="models")
    if provider not in PRESETS:
        raise ConfigError(f"unknown provider {provider!r} in model {text!r}; known: {', '.join(PRESETS)}",
                          path="models")
    if not name.strip():
        raise ConfigError(f"model {text!r} names no model after {provider}:", path="models")
    return ModelRef(PRESETS[provider], name.strip())


def base_url_for(preset: Preset, overrides: Mapping[str, str], env: Mapping[str, str]) -> str | None:
    if overrides.get(preset.name):
        return overrides[preset.name]
    if preset.base_url_env and env.get(preset.base_url_env, "").strip():
        return env[preset.base_url_env].strip()
    return preset.base_url


def api_key_for(ref: ModelRef, env: Mapping[str, str]) -> str:
    preset = ref.preset
    value = env.get(preset.key_env, "").strip() if preset.key_env else ""
    if value:
        return value
    if preset.key_optional:
        return "unused"
    raise ConfigError(f"model {ref.id} needs an API key: set {preset.key_env} in the environment",
                      path="models")
