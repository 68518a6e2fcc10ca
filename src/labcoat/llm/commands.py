"""Agent commands: typed replies, their wire schemas, and the one reply parser.

A command is a pydantic model with a Literal `command` field naming it. Fields
marked `fenced("python")` (code, LaTeX) are *bodies*: in `tools` mode they
travel as fenced blocks in the message text, and the remaining control fields
as the arguments of a tool named after the command (models write worse code
when it is escaped inside JSON). In `json` mode (backends that can only be
constrained to one JSON document: llama.cpp, Ollama, vLLM) every field,
bodies included, is part of the JSON object, with `command` naming it.

Schemas are strict in OpenAI's sense (every property required,
`additionalProperties: false`), built by the openai SDK's pydantic helper.

`CommandSet.parse(completion, mode)` turns a raw completion into a validated
command or raises `ReplyError` whose `feedback` is the exact text the model
is shown before it is asked again: unknown command, missing field, wrong
type, invalid JSON, truncated reply, missing fenced block.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from labcoat.errors import LabcoatError
from labcoat.llm.field_paths import has_field, resolved, values_at

Mode = Literal["tools", "json"]
TRUNCATED = ("length", "max_tokens")
_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+#.-]*)[^\n]*\n(.*?)^[ \t]*\1[ \t]*$", re.M | re.S)


class Command(BaseModel):
    """Base of every agent command; subclasses add `command: Literal["name"] = "name"`."""

    model_config = ConfigDict(extra="forbid")


def fenced(language: str = "", description: str = "") -> Any:
    """Mark a `str` field as a fenced body (```language block), e.g. `code: str = fenced("python")`."""
    return Field(description=description or f"{language or 'text'} body, as a fenced block",
                 json_schema_extra={"fenced": language})


def command_name(cls: type[BaseModel]) -> str:
    field = cls.model_fields.get("command")
    if field is None:
        raise TypeError(f"{cls.__name__} has no `command` field (a Literal naming the command)")
    args = get_args(field.annotation)
    if len(args) != 1 or not isinstance(args[0], str):
        raise TypeError(f"{cls.__name__}.command must be a Literal of exactly one string")
    return args[0]


def fenced_fields(cls: type[BaseModel]) -> dict[str, str]:
    """Field name -> fence language, in declaration order."""
    out = {}
    for name, field in cls.model_fields.items():
        extra = field.json_schema_extra
        if isinstance(extra, dict) and "fenced" in extra:
            out[name] = str(extra["fenced"])
    return out


class ReplyError(LabcoatError):
    """A reply that is not a valid command; `feedback` is what the model is told."""

    def __init__(self, kind: str, feedback: str):
        self.kind = kind
        self.feedback = feedback
        super().__init__(f"{kind}: {feedback}")


def strict_schema(model: type[BaseModel], name: str, description: str = "") -> dict:
    """OpenAI-strict JSON schema of `model` (every property required, no extra properties).

    `default` keywords are dropped: strict mode has refused them ("'default' is not
    permitted"), and with every property required they carry no meaning anyway.
    So are pydantic's `title`s ("Paper Id" for `paper_id`): they tell a model nothing
    the property's name does not, and every call would pay for them.
    """
    import openai  # deferred: the SDK takes seconds to import and only schema building needs it

    tool = openai.pydantic_function_tool(model, name=name, description=description or None)
    return _without_defaults(tool["function"]["parameters"])


def _without_defaults(node: Any) -> Any:
    if isinstance(node, list):
        return [_without_defaults(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in ("default", "title"):
            continue
        if key in ("properties", "$defs") and isinstance(value, dict):
            out[key] = {name: _without_defaults(sub) for name, sub in value.items()}
        else:
            out[key] = _without_defaults(value)
    return out


def _controls_model(cls: type[BaseModel], *, with_bodies: bool) -> type[BaseModel]:
    """A model of `cls`'s fields minus `command` (the tool name carries it) and, unless asked, bodies."""
    skip = {"command"} | (set() if with_bodies else set(fenced_fields(cls)))
    fields = {n: (f.annotation, f) for n, f in cls.model_fields.items() if n not in skip}
    return create_model(cls.__name__, __config__=ConfigDict(extra="forbid"), **fields)


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced block in `text`, in order."""
    return [(m.group(2).lower(), m.group(3).rstrip("\n")) for m in _FENCE.finditer(text or "")]


def _first_json_object(text: str) -> Any:
    body = text.strip()
    blocks = fenced_blocks(body)
    if blocks and not body.startswith("{"):
        body = next((b for lang, b in blocks if lang in ("json", "")), blocks[0][1])
    # strict=False: a raw newline or tab inside a string (small models write them,
    # grammar-constrained or not) is still the JSON the model meant.
    try:
        return json.loads(body, strict=False)
    except json.JSONDecodeError as exc:
        start = body.find("{")
        if start > 0:
            try:
                return json.JSONDecoder(strict=False).raw_decode(body[start:])[0]
            except json.JSONDecodeError:
                pass
        raise ReplyError("invalid_json", f"Your reply is not valid JSON ({exc.msg} at line {exc.lineno} "
                                         f"column {exc.colno}). Reply with exactly one JSON object.") from None


def _describe_input(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def validation_feedback(name: str, exc: ValidationError) -> tuple[str, str]:
    """(kind, message) naming every bad field of command `name`."""
    lines, kinds = [], set()
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(the command)"
        if err["type"] == "missing":
            kinds.add("missing_field")
            lines.append(f"missing field `{where}`")
        elif err["type"] == "extra_forbidden":
            kinds.add("extra_field")
            lines.append(f"unknown field `{where}` (not part of `{name}`)")
        else:
            kinds.add("wrong_type")
            lines.append(f"field `{where}`: {err['msg']}; got {_describe_input(err.get('input'))}")
    kind = "missing_field" if "missing_field" in kinds else ("wrong_type" if "wrong_type" in kinds else "extra_field")
    return kind, f"Command `{name}` is invalid: " + "; ".join(lines) + ". Send it again, corrected."


JSON_MODE_MAX_ITEMS = 12


def _enumerate_ranges(schema: Any) -> Any:
    """`schema` with every integer of a small bounded range (at most 21 values) also listed as an enum."""
    if isinstance(schema, list):
        return [_enumerate_ranges(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _enumerate_ranges(value) for key, value in schema.items()}
    low, high = out.get("minimum"), out.get("maximum")
    if out.get("type") == "integer" and isinstance(low, int) and isinstance(high, int) and 0 <= high - low <= 20:
        out.setdefault("enum", list(range(low, high + 1)))
    if out.get("type") == "array":
        out.setdefault("maxItems", JSON_MODE_MAX_ITEMS)  # a small model must not list forever
    return out


class CommandSet:
    """The commands allowed for one reply, with their wire schemas and the parser."""

    def __init__(self, commands: Sequence[type[Command]], choices: Mapping[str, Sequence[str]] | None = None):
        """`choices` ("command.field" -> allowed strings) narrows a string field for this reply, e.g.
        the ids of the papers retrieved so far; "command.items.field" reaches a field of a list's items
        (the attempts a verdict may name), and JSON mode then asks for one item per choice. JSON mode lists them as an enum (a grammar-constrained
        model then cannot write any other value) and re-asks on any other value. Tools mode leaves
        them out: the tool list is part of a provider's cached prompt prefix, and the phase's own
        check answers a wrong value with a refusal the agent can act on."""
        if not commands:
            raise ValueError("a CommandSet needs at least one command")
        self.by_name: dict[str, type[Command]] = {}
        for cls in commands:
            name = command_name(cls)
            if name in self.by_name:
                raise TypeError(f"two commands are named {name!r}")
            self.by_name[name] = cls
        self.choices: dict[tuple[str, str], tuple[str, ...]] = {}
        for path, values in (choices or {}).items():
            name, _, field_name = path.partition(".")
            if name not in self.by_name or not has_field(self.by_name[name], field_name.split(".")):
                raise ValueError(f"choices for {path!r}: no such command field")
            if not values:
                raise ValueError(f"choices for {path!r} are empty: leave the command out instead")
            self.choices[(name, field_name)] = tuple(values)

    @property
    def names(self) -> list[str]:
        return list(self.by_name)

    @property
    def has_bodies(self) -> bool:
        return any(fenced_fields(c) for c in self.by_name.values())

    def tools(self) -> list[dict]:
        """Provider-neutral tool specs: name, description, strict parameter schema (bodies excluded)."""
        return [{"name": name, "description": (cls.__doc__ or name).strip(),
                 "parameters": strict_schema(_controls_model(cls, with_bodies=False), name)}
                for name, cls in self.by_name.items()]

    def json_schema(self) -> dict:
        """One strict JSON document for `json` mode: the command itself, or {"reply": anyOf commands}.

        JSON mode serves backends that constrain decoding with a grammar built from
        the schema (llama.cpp, Ollama, vLLM); their grammars ignore numeric bounds, so
        small integer ranges (review scores) are also given as an enum, which they keep,
        and lists get a length cap.
        """
        schemas = [self._narrowed(name, _enumerate_ranges(strict_schema(cls, name)))
                   for name, cls in self.by_name.items()]
        if len(schemas) == 1:
            return schemas[0]
        defs: dict[str, Any] = {}
        variants = []
        for schema in schemas:
            defs.update(schema.pop("$defs", {}))
            variants.append(schema)
        root = {"type": "object", "properties": {"reply": {"anyOf": variants}},
                "required": ["reply"], "additionalProperties": False}
        if defs:
            root["$defs"] = defs
        return root

    def _narrowed(self, name: str, schema: dict) -> dict:
        for (command, field_name), values in self.choices.items():
            if command != name:
                continue
            *outer, last = field_name.split(".")
            node = schema
            for segment in outer:  # into an object field, or a list's items; through a $ref to its $defs
                node = resolved(schema, node["properties"][segment])
                if node.get("type") == "array":  # one item per choice: a small model must not send none
                    node["minItems"] = node["maxItems"] = len(values)
                    node = resolved(schema, node["items"])
            node["properties"][last] = {**node["properties"][last], "enum": list(values)}
        return schema

    def wire(self, mode: Mode) -> dict:
        """What goes into the recorded request: the schema the backend is given."""
        if mode == "tools":
            return {"mode": mode, "tools": self.tools(), "bodies": self.has_bodies}
        return {"mode": mode, "schema": self.json_schema()}

    def instructions(self, mode: Mode) -> str:
        """How to reply, appended to the stable system prefix. Tools carry their own descriptions; a model
        constrained to a JSON schema never reads the schema's, so in json mode the commands are listed here."""
        names = ", ".join(f"`{n}`" for n in self.names)
        if mode == "json":
            lines = [f"Reply with exactly one JSON object and nothing else. Its `command` field is one of {names}; "
                     "the other fields are that command's fields, code included as a JSON string."]
            for name, cls in self.by_name.items():
                fields = ", ".join(f for f in cls.model_fields if f != "command")
                lines.append(f"- `{name}` ({fields}): {(cls.__doc__ or name).strip()}")
                bodies = fenced_fields(cls)
                lines += [f"  - `{field}`: {info.description}" for field, info in cls.model_fields.items()
                          if info.description and field not in bodies]
            return "\n".join(lines)
        lines = [f"Reply with exactly one command per turn, by calling one of the tools {names}."]
        for name, cls in self.by_name.items():
            for field, lang in fenced_fields(cls).items():
                lines.append(f"For `{name}`, write `{field}` as a fenced ```{lang} block in your message text, "
                             "then call the tool; do not put it in the tool arguments.")
        return "\n".join(lines)

    # -- parsing ---------------------------------------------------------------
    def parse(self, completion: dict, mode: Mode) -> Command:
        if completion.get("finish_reason") in TRUNCATED:
            raise ReplyError("truncated", "Your reply was cut off at the output token limit before it was complete. "
                                          "Reply again, more briefly.")
        if mode == "json":
            return self._parse_json(completion.get("text") or "")
        return self._parse_tools(completion)

    def _parse_json(self, text: str) -> Command:
        if not text.strip():
            raise ReplyError("no_command", f"Your reply was empty. Reply with one JSON object for one of {self.names}.")
        data = _first_json_object(text)
        if isinstance(data, dict) and len(self.by_name) > 1 and set(data) == {"reply"}:
            data = data["reply"]
        if not isinstance(data, dict):
            raise ReplyError("invalid_json", "Your reply must be one JSON object, not "
                                             f"{type(data).__name__}.")
        if len(self.by_name) == 1 and "command" not in data:
            data = {**data, "command": self.names[0]}
        cls = self.by_name.get(data.get("command"))  # type: ignore[arg-type]
        bodies = fenced_fields(cls) if cls is not None else {}
        if bodies and any(f not in data for f in bodies) and len(fenced_blocks(text)) > 1:
            # A model answering in text may put the body beside the JSON, as a block of its own.
            data = {**data, **self._bodies(data["command"], bodies, text, data)}
        for (command, field_name), values in self.choices.items():
            if data.get("command") != command:
                continue
            wrong = next((v for v in values_at(data, field_name.split(".")) if v not in values), None)
            if wrong is not None:
                raise ReplyError("not_a_choice", f"`{field_name}` of `{command}` must be one of: "
                                                 f"{', '.join(values)}; you wrote {json.dumps(wrong)}.")
        return self._validate(data.get("command"), data)

    def _parse_tools(self, completion: dict) -> Command:
        calls = completion.get("tool_calls") or []
        text = completion.get("text") or ""
        if not calls:
            raise ReplyError("no_command", "Your reply called no command. Reply by calling exactly one of the tools "
                                           f"{', '.join(self.names)}.")
        if len(calls) > 1:
            called = ", ".join(c.get("name", "?") for c in calls)
            raise ReplyError("several_commands", f"Call exactly one command per reply; you called {len(calls)} "
                                                 f"({called}).")
        call = calls[0]
        name = call.get("name")
        if name not in self.by_name:
            self._unknown(name)
        try:
            args = json.loads(call.get("arguments") or "{}", strict=False)
        except json.JSONDecodeError as exc:
            raise ReplyError("invalid_json", f"The arguments of `{name}` are not valid JSON ({exc.msg} at column "
                                             f"{exc.colno}). Call it again with valid arguments.") from None
        if not isinstance(args, dict):
            raise ReplyError("invalid_json", f"The arguments of `{name}` must be a JSON object.")
        args.pop("command", None)
        bodies = fenced_fields(self.by_name[name])
        if bodies:
            args.update(self._bodies(name, bodies, text, args))
        return self._validate(name, {**args, "command": name})

    def _bodies(self, name: str, wanted: dict[str, str], text: str, args: dict) -> dict[str, str]:
        missing = [f for f in wanted if f not in args]
        if not missing:
            return {}
        blocks = [b for b in fenced_blocks(text) if b[0] != "json"]
        if len(blocks) < len(missing):
            need = " and ".join(f"`{f}` as a fenced ```{wanted[f]} block" for f in missing)
            raise ReplyError("missing_fence", f"Command `{name}` needs {need} in your message text; "
                                              f"{'none was' if not blocks else f'only {len(blocks)} was'} found. "
                                              "Write the block, then call the tool again.")
        if len(missing) == 1:
            lang = wanted[missing[0]]
            matching = [b for lang_, b in blocks if lang_ == lang]
            return {missing[0]: (matching or [b for _, b in blocks])[-1]}
        return {f: body for f, (_, body) in zip(missing, blocks[-len(missing):])}

    def _unknown(self, name: Any) -> None:
        raise ReplyError("unknown_command", f"Unknown command {json.dumps(name)}. Use one of: "
                                            f"{', '.join(self.names)}.")

    def _validate(self, name: Any, data: dict) -> Command:
        if name is None:
            raise ReplyError("missing_field", f"Your reply has no `command` field; it must be one of "
                                              f"{', '.join(self.names)}.")
        if name not in self.by_name:
            self._unknown(name)
        try:
            return self.by_name[name].model_validate(data)
        except ValidationError as exc:
            kind, message = validation_feedback(name, exc)
            raise ReplyError(kind, message) from None
