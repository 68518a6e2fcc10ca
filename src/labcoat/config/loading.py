"""Loading a research config: YAML in the user's words into a `ResearchConfig`.

`load_config` reads the file and raises one `ConfigError` naming the key path;
Agent Laboratory's YAML keys are mapped (`config.agentlab`), `--set` and a few
environment variables override. API keys are never stored: they come from
the environment; Agent Laboratory's own key fields (`api-key`,
`deepseek-api-key`) are taken out before anything is stored, a placeholder
ignored and a real key handed back to the caller for this process only.
Any other credential-looking key is refused.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from labcoat.config.errors import explain, written_as
from labcoat.config.schema import ResearchConfig
from labcoat.config.yaml_limits import read_config_text, safe_load_bounded
from labcoat.errors import ConfigError

SECRET_KEYS = {"api-key", "api_key", "apikey", "deepseek-api-key", "openai-api-key", "anthropic-api-key",
               "google-api-key", "gemini-api-key", "openrouter-api-key", "hf-token", "hf_token", "token"}

ENV_OVERRIDES = {
    "LABCOAT_ARXIV_API": ("services", "arxiv_api"),
    "LABCOAT_ARXIV_PDF": ("services", "arxiv_pdf"),
    "LABCOAT_ARXIV_EPRINT": ("services", "arxiv_eprint"),
    "HF_ENDPOINT": ("services", "hf_endpoint"),
    "LABCOAT_ARCHIVE_URL": ("archive", "url"),
}


def find_secrets(data: Any, path: str = "") -> list[str]:
    """Dotted paths of keys that look like credentials (values never returned)."""
    found: list[str] = []
    if isinstance(data, dict):
        for k, v in data.items():
            here = f"{path}.{k}" if path else str(k)
            norm = str(k).lower().replace("_", "-")
            if norm in SECRET_KEYS or norm.endswith("-api-key") or norm.endswith("api-key"):
                found.append(here)
            else:
                found.extend(find_secrets(v, here))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            found.extend(find_secrets(v, f"{path}[{i}]"))
    return found


def parse_set(assignments: list[str]) -> list[tuple[str, Any]]:
    """`a.b=c` strings into (path, YAML-parsed value) pairs."""
    out = []
    for item in assignments:
        if "=" not in item:
            raise ConfigError(f"--set expects KEY=VALUE with a dotted key, got '{item}'", source="--set")
        key, _, raw = item.partition("=")
        key = key.strip()
        if not key:
            raise ConfigError(f"--set '{item}' has an empty key", source="--set")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        # Only flow syntax makes a collection: `--set topic="Why: a study"` stays text.
        if isinstance(value, dict) and not raw.strip().startswith("{") or \
                isinstance(value, list) and not raw.strip().startswith("["):
            value = raw
        out.append((key, value))
    return out


def apply_set(data: dict, assignments: list[tuple[str, Any]]) -> dict:
    for key, value in assignments:
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            nxt = node.get(part)
            if nxt is None:
                nxt = node[part] = {}
            if not isinstance(nxt, dict):
                raise ConfigError(f"cannot set '{key}': '{part}' is not a section", path=key, source="--set")
            node = nxt
        node[parts[-1]] = value
    return data


def validate_config(data: dict, source: str | None = None) -> ResearchConfig:
    secrets = find_secrets(data)
    if secrets:
        raise ConfigError(
            "API keys do not belong in a config file (it is copied into the run store); "
            "remove it and set the provider's environment variable instead, e.g. "
            "`export OPENAI_API_KEY=...` (`labcoat doctor` shows which keys are set)",
            path=secrets[0], source=source,
        )
    try:
        return ResearchConfig.model_validate(data)
    except ValidationError as exc:
        raise explain(exc, ResearchConfig, source) from None


def config_from_mapping(raw: Any, source: str | None = None, overrides: list[str] | None = None,
                        env: dict[str, str] | None = None, keys: dict[str, str] | None = None) -> ResearchConfig:
    """The validated config; `keys`, if given, receives {variable: key} of real keys the YAML held."""
    from labcoat.config.agentlab import from_agentlab, take_keys

    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"a config must be a YAML mapping of keys to values, got {type(raw).__name__}",
                          source=source)
    env = os.environ if env is None else env
    raw, found, key_notes = take_keys(raw, env)
    if keys is not None:
        keys.update(found)
    secrets = find_secrets(raw)
    if secrets:
        validate_config(raw, source)  # raises the secret error with the original key path
    origins: dict[str, str] = {}
    data = from_agentlab(raw, source, origins)
    if key_notes:
        data["compat_notes"] = [*key_notes, *data.get("compat_notes", [])]
    for var, (section, key) in ENV_OVERRIDES.items():
        if env.get(var):
            data.setdefault(section, {})
            if isinstance(data[section], dict):
                data[section].setdefault(key, env[var])
    if overrides:
        data = apply_set(data, parse_set(overrides))
    try:
        return validate_config(data, source)
    except ConfigError as exc:
        # Name the key the user wrote, e.g. `copilot-mode`, not only where it maps.
        written = written_as(exc.path, origins)
        if written is None:
            raise
        mapped = f" (labcoat's {exc.path})" if written.replace("-", "_") != exc.path.replace("-", "_") else ""
        raise ConfigError(exc.detail + mapped, path=written, source=exc.source) from None


def load_config(path: Path | str, overrides: list[str] | None = None,
                env: dict[str, str] | None = None, keys: dict[str, str] | None = None) -> ResearchConfig:
    path = Path(path)
    source = str(path)
    if not path.exists():
        raise ConfigError("no such file", source=source)
    text = read_config_text(path)
    try:
        raw = safe_load_bounded(text, source)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"invalid YAML{where}: {problem}", source=source) from None
    config = config_from_mapping(raw, source, overrides, env, keys)
    # A relative library path means "beside this config file", so an example
    # or a project folder works from any working directory.
    if config.library.path is not None and not config.library.path.expanduser().is_absolute():
        config.library.path = (path.parent / config.library.path).resolve()
    return config
