"""Config errors a person can act on: one message, naming the key path they wrote."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ValidationError

from labcoat.errors import ConfigError


class KeyedValueError(ValueError):
    """A value error that knows which key (or `[index]`) under the field is wrong."""

    def __init__(self, message: str, key: str):
        self.key = key
        super().__init__(message)


def _location(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for p in loc:
        if isinstance(p, int):
            parts.append(f"[{p}]")
        else:
            parts.append(("." if parts else "") + str(p))
    return "".join(parts)


def explain(exc: ValidationError, root: type[BaseModel], source: str | None) -> ConfigError:
    """The first validation error as one ConfigError naming the key path."""
    err = exc.errors()[0]
    path = _location(err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden":
        parent_loc, bad = err["loc"][:-1], err["loc"][-1]
        fields = _fields_at(root, parent_loc)
        hint = difflib.get_close_matches(str(bad), fields, n=1)
        msg = f"unknown key '{bad}'" + (f" (did you mean '{hint[0]}'?)" if hint else "")
        return ConfigError(msg, path=path, source=source)
    if kind == "missing":
        what = "the research topic is missing: add `topic: ...` (or `research-topic:`)" if path == "topic" \
            else "this key is required"
        return ConfigError(what, path=path, source=source)
    cause = (err.get("ctx") or {}).get("error")
    if isinstance(cause, KeyedValueError):
        where = path + ("" if cause.key.startswith("[") or not path else ".") + cause.key
        return ConfigError(str(cause), path=where, source=source)
    if isinstance(cause, ValueError):
        return ConfigError(str(cause), path=path or None, source=source)
    value = err.get("input")
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return ConfigError(f"{err['msg']} (got {shown})", path=path, source=source)


def _fields_at(root: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    model: Any = root
    for part in loc:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        model = field.annotation
    return list(getattr(model, "model_fields", {}).keys())


def written_as(path: str | None, origins: dict[str, str]) -> str | None:
    """The key path as the user wrote it, when it came from an Agent Laboratory key."""
    for target, key in origins.items():
        if path is not None and (path == target or path.startswith(target + ".")):
            return f"{key}{path[len(target):]}"
    return None
