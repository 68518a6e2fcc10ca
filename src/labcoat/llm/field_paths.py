"""Dotted paths into a command's fields ("verdicts.attempt"): through object fields and lists of objects,
in the pydantic model, its JSON schema and a reply's data."""

from __future__ import annotations

from typing import Any, get_args, get_origin


def has_field(model: Any, path: list[str]) -> bool:
    """Whether `path` names a field of `model`, through object fields and lists of objects."""
    for segment in path:
        fields = getattr(model, "model_fields", None)
        if not fields or segment not in fields:
            return False
        model = fields[segment].annotation
        if get_origin(model) is list:
            model = get_args(model)[0]
    return True


def resolved(root: dict, node: dict) -> dict:
    """`node`, or the `$defs` entry of `root` it refers to."""
    ref = node.get("$ref", "")
    return root["$defs"][ref.rsplit("/", 1)[-1]] if ref.startswith("#/$defs/") else node


def values_at(data: Any, path: list[str]) -> list[Any]:
    """The values at `path` in a reply, through lists; absent ones are left to validation."""
    if not path:
        return [data]
    if isinstance(data, list):
        return [v for item in data for v in values_at(item, path)]
    if isinstance(data, dict) and path[0] in data:
        return values_at(data[path[0]], path[1:])
    return []
