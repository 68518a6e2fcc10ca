"""JSON-schema dialects: Gemini's function declarations take an OpenAPI subset.

Gemini (its own API and its OpenAI-compatible endpoint) refuses tool schemas
carrying `additionalProperties`, `$defs`/`$ref`, `const`, `title`, `default`
and other keywords outside its subset ("Invalid JSON payload received. Unknown
name ..."). `for_gemini` inlines references, turns `const` into a one-value
`enum`, and keeps only the keywords Gemini knows. The parser still validates
every reply against the full pydantic model, so nothing is lost but the hint.
"""

from __future__ import annotations

from typing import Any

GEMINI_KEYS = {"type", "format", "description", "nullable", "enum", "properties", "required", "items",
               "anyOf", "minItems", "maxItems", "minimum", "maximum", "minLength", "maxLength", "pattern",
               "propertyOrdering"}
_MAX_DEPTH = 32


def for_gemini(schema: dict) -> dict:
    defs = schema.get("$defs", {})
    return _clean(schema, defs, 0)


def _clean(node: Any, defs: dict, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        raise ValueError("schema nests deeper than 32 levels (a recursive model?)")
    if isinstance(node, list):
        return [_clean(item, defs, depth + 1) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs.get(node["$ref"].rsplit("/", 1)[-1], {})
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _clean(merged, defs, depth + 1)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "const":
            out["enum"] = [value]
        elif key == "properties":
            out[key] = {name: _clean(sub, defs, depth + 1) for name, sub in value.items()}
        elif key in GEMINI_KEYS:
            out[key] = _clean(value, defs, depth + 1)
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    return out
