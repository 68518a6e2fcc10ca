"""Agent Laboratory's YAML keys, mapped onto labcoat's config.

Agent Laboratory configs (`experiments_configs/*.yaml`) must run unchanged.
Each of its keys maps to a labcoat path here; keys that only made sense for
its implementation (pickled checkpoints, exception toggles) are accepted and
explained in `compat_notes`, never silently dropped.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from labcoat.errors import ConfigError

# AgentLab key -> dotted labcoat path
DIRECT = {
    "research-topic": "topic",
    "research_topic": "topic",
    "language": "language",
    "llm-backend": "models.default",
    "llm_backend": "models.default",
    "lit-review-backend": "models.phases.literature_review",
    "num-papers-lit-review": "budget.lit_review_papers",
    "mlesolver-max-steps": "budget.mle_steps",
    "papersolver-max-steps": "budget.paper_steps",
    "datasolver-max-steps": "budget.phase_steps.data_preparation",
    "copilot-mode": "copilot.enabled",
    "copilot_mode": "copilot.enabled",
    "compile-latex": "report.compile_latex",
    "compile_latex": "report.compile_latex",
    "num-papers-to-write": "papers_to_write",
    "agentRxiv": "archive.enabled",
    "agentrxiv": "archive.enabled",
    "agentrxiv-papers": "archive.papers",
}

# Keys whose job labcoat does another way; accepted, with the reason recorded.
EXPLAINED = {
    "load-existing": "labcoat resumes any run with `labcoat resume RUN` (no pickled checkpoints)",
    "load-existing-path": "labcoat resumes any run with `labcoat resume RUN`",
    "except-if-fail": "labcoat never crashes on an agent or program error; failures are recorded and the run can be resumed",
    "lab-index": "labcoat names each lab's run directory itself",
    "construct-agentRxiv": "the archive is a service: `labcoat archive serve`",
    "save-loc": "runs live under --run-dir / $LABCOAT_RUNS",
}


# Agent Laboratory's key fields -> the environment variable labcoat reads that key from.
KEY_FIELDS = {"api-key": "OPENAI_API_KEY", "api_key": "OPENAI_API_KEY",
              "deepseek-api-key": "DEEPSEEK_API_KEY", "deepseek_api_key": "DEEPSEEK_API_KEY"}
_KEY_SHAPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-.]{19,}$")
_PLACEHOLDER = re.compile(r"here|your|placeholder|example|changeme|insert|xxxx|\.\.\.", re.IGNORECASE)


def key_shaped(value: Any) -> bool:
    """Whether `value` could be a provider key (`sk-proj-...`), not a placeholder such as `OPENAI-API-KEY-HERE`."""
    if not isinstance(value, str):
        return False
    text = value.strip()
    return bool(_KEY_SHAPE.match(text)) and any(c.isdigit() for c in text) and not _PLACEHOLDER.search(text)


def take_keys(raw: dict, env: Mapping[str, str]) -> tuple[dict, dict[str, str], list[str]]:
    """Agent Laboratory's top-level key fields, taken out of `raw` before anything stores it.

    Returns (raw without them, {variable: key} for real keys the environment lacks,
    one note per field). The notes never contain a value.
    """
    rest, keys, notes = {}, {}, []
    for field, value in raw.items():
        var = KEY_FIELDS.get(str(field).lower()) if isinstance(field, str) else None
        if var is None:
            rest[field] = value
        elif not key_shaped(value):
            notes.append(f"'{field}' holds no key (a placeholder or empty): ignored; labcoat reads {var} "
                         "from the environment")
        elif env.get(var, "").strip():
            notes.append(f"'{field}' ignored: {var} is set in the environment and is used instead")
        else:
            keys[var] = str(value).strip()
            notes.append(f"'{field}' holds an API key: used as {var} for this process only, never stored; "
                         f"move it into the environment (export {var}=...) and out of the file")
    return rest, keys, notes


def _truthy(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return value


def _set(data: dict, path: str, value: Any) -> None:
    node = data
    parts = path.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node.setdefault(parts[-1], value)


def from_agentlab(raw: dict, source: str | None = None, origins: dict[str, str] | None = None) -> dict:
    """Return a labcoat-shaped dict; labcoat keys pass through untouched.

    `origins`, if given, receives labcoat path -> the Agent Laboratory key it came from.
    """
    data: dict = {}
    notes: list[str] = []
    origins = {} if origins is None else origins
    for key, value in raw.items():
        if key in DIRECT:
            target = DIRECT[key]
            origins[target] = key
            if target in ("copilot.enabled", "report.compile_latex", "archive.enabled"):
                value = _truthy(value)
            if target.startswith("budget.") or target == "papers_to_write":
                value = _int(value, key, source)
            _set(data, target, value)
        elif key == "task-notes":
            if not isinstance(value, dict):
                raise ConfigError("task-notes must map phase names to lists of notes", path=key, source=source)
            origins["task_notes"] = key
            _set(data, "task_notes", value)
        elif key == "parallel-labs":
            origins["labs"] = key
            value = _truthy(value)
            if value is True:
                _set(data, "labs", 2)
            elif isinstance(value, int) and not isinstance(value, bool):
                _set(data, "labs", value)
        elif key in EXPLAINED:
            notes.append(f"'{key}' accepted and not needed: {EXPLAINED[key]}")
        elif isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = _merge(value, data[key])  # the user's section, plus what AgentLab keys set in it
        else:
            data[key] = value
    if notes:
        data.setdefault("compat_notes", []).extend(notes)
    return data


def _merge(section: dict, mapped: dict) -> dict:
    """`section` as the user wrote it, keeping values AgentLab keys mapped into it where it is silent."""
    out = dict(section)
    for k, v in mapped.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out.setdefault(k, v)
    return out


def _int(value: Any, key: str, source: str | None) -> Any:
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            raise ConfigError(f"expected a whole number, got '{value}'", path=key, source=source) from None
    return value
