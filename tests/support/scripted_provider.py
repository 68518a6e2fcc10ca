"""A scripted LLM provider on 127.0.0.1 that speaks the real wire formats (tests only).

    with ScriptedProvider(policy) as sp:
        sp.base_url_openai      # http://127.0.0.1:PORT/openai/v1   (POST .../chat/completions)
        sp.base_url_anthropic   # http://127.0.0.1:PORT/anthropic   (POST .../v1/messages)
        sp.requests             # every ScriptedRequest, in arrival order, with the status sent
        sp.usage_reported       # usage of each 200 reply: input (cache included), cached, output, reasoning

`policy(request) -> reply` is called for every well-formed request. A reply is
a string (plain text), `reply_command(name, body=..., **fields)` or a dict with
`command` (rendered right for the request: tool call plus fenced body blocks,
a json_schema document, or a JSON block in text), `Truncated(reply)` (cut at
max_tokens), or a `Fault` (`rate_limited(retry_after)`, `server_error(503)`,
`hang(seconds)`, `BROKEN_BODY`). `sequence(*replies)` answers in order.
Requests the real APIs refuse get their HTTP 400 (see scripted_wire); with
`api_key` set, a wrong key gets 401. Usage is realistic: ~4 characters a
token, cached tokens as the services report them (scripted_cache: OpenAI's
automatic prefix cache from 1024 tokens, Anthropic's marked breakpoints),
reasoning models report reasoning tokens.

`scripted_config(sp, model=...)` builds a ResearchConfig pointing every preset
at the server; `scripted_env(sp)` the key variables to set.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from labcoat.config.loading import config_from_mapping
from labcoat.config.schema import ResearchConfig

from tests.support import scripted_wire as wire
from tests.support.scripted_cache import PromptCache, anthropic_cache_refusal
from tests.support.scripted_wire import (BROKEN_BODY, CommandReply, Fault, Truncated, hang, rate_limited,
                                         reply_command, server_error)

__all__ = ["BROKEN_BODY", "CommandReply", "Fault", "ScriptedProvider", "ScriptedRequest", "TEST_KEY", "Truncated",
           "hang", "rate_limited", "reply_command", "scripted_config", "scripted_env", "sequence", "server_error"]

TEST_KEY = "test-key-scripted-5f3c9a1e7b2d4c6f"
KEY_VARS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "DEEPSEEK_API_KEY", "GEMINI_API_KEY", "OPENROUTER_API_KEY",
            "OLLAMA_API_KEY", "VLLM_API_KEY", "LLAMACPP_API_KEY")
OPENAI_WIRE_PRESETS = ("openai", "deepseek", "gemini", "openrouter", "ollama", "vllm", "llamacpp")


@dataclass
class ScriptedRequest:
    api: str
    path: str
    headers: dict[str, str]
    body: dict
    status: int = 0

    @property
    def model(self) -> str:
        return str(self.body.get("model", ""))

    @property
    def system(self) -> str:
        if self.api == "anthropic":
            sys_ = self.body.get("system") or ""
            return sys_ if isinstance(sys_, str) else "\n".join(b.get("text", "") for b in sys_)
        return "\n".join(_text(m.get("content")) for m in self.body.get("messages", [])
                         if m.get("role") in ("system", "developer"))

    @property
    def messages(self) -> list[dict]:
        return [{"role": m.get("role"), "content": _text(m.get("content"))} for m in self.body.get("messages", [])
                if m.get("role") not in ("system", "developer")]

    @property
    def images(self) -> list[tuple[str, bytes]]:
        """(media type, bytes) of every image in the request, in order."""
        found = []
        for m in self.body.get("messages", []):
            for part in m.get("content") if isinstance(m.get("content"), list) else []:
                if part.get("type") == "image_url":
                    head, _, data = part["image_url"]["url"].partition(",")
                    found.append((head.removeprefix("data:").removesuffix(";base64"), base64.b64decode(data)))
                elif part.get("type") == "image":
                    found.append((part["source"]["media_type"], base64.b64decode(part["source"]["data"])))
        return found

    @property
    def last_user(self) -> str:
        users = [m["content"] for m in self.messages if m["role"] == "user"]
        return users[-1] if users else ""

    @property
    def tool_names(self) -> list[str]:
        return [t.get("function", t).get("name") for t in self.body.get("tools") or []]

    @property
    def command_names(self) -> list[str]:
        """The commands this request allows (tools, schema, or the JSON instructions in the prompt)."""
        if self.tool_names:
            return self.tool_names
        found = re.findall(r'"const":\s*"([^"]+)"', json.dumps(self.schema)) if self.schema else []
        if not found:
            text = self.system + "\n" + "\n".join(m["content"] for m in self.messages)
            line = re.search(r"`command` field is one of ([^;]+);", text)
            found = re.findall(r"`([^`]+)`", line.group(1)) if line else []
        return list(dict.fromkeys(found))

    @property
    def schema(self) -> dict | None:
        fmt = self.body.get("response_format") or {}
        return fmt.get("json_schema", {}).get("schema") if fmt.get("type") == "json_schema" else None

    @property
    def mode(self) -> str:
        return "tools" if self.body.get("tools") else ("json" if self.schema is not None else "text")


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "\n".join(b.get("text", "") for b in content if isinstance(b, dict))
    return "" if content is None else str(content)


def sequence(*replies: Any) -> Callable[[ScriptedRequest], Any]:
    """A policy answering with `replies` in order, then repeating the last."""
    lock, state = threading.Lock(), {"i": 0}

    def policy(_request: ScriptedRequest) -> Any:
        with lock:
            i = min(state["i"], len(replies) - 1)
            state["i"] += 1
        return replies[i]
    return policy


class ScriptedProvider:
    def __init__(self, policy: Callable[[ScriptedRequest], Any] | None = None, *, api_key: str | None = TEST_KEY,
                 hang_cap_s: float = 10.0):
        self.policy = policy or (lambda _r: "ok")
        self.api_key = api_key
        self.hang_cap_s = hang_cap_s
        self.requests: list[ScriptedRequest] = []
        self.usage_reported: list[dict] = []
        self.errors: list[str] = []
        self.cache = PromptCache()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------
    def start(self) -> ScriptedProvider:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes; with Nagle on, the second waits for a delayed ACK (~40 ms).
            disable_nagle_algorithm = True

            def log_message(self, *_args: Any) -> None:
                return

            def do_POST(self) -> None:  # noqa: N802
                provider._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> ScriptedProvider:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "ScriptedProvider is not started"
        return self._server.server_address[1]

    @property
    def base_url_openai(self) -> str:
        return f"http://127.0.0.1:{self.port}/openai/v1"

    @property
    def base_url_anthropic(self) -> str:
        return f"http://127.0.0.1:{self.port}/anthropic"

    @property
    def served(self) -> list[ScriptedRequest]:
        return [r for r in self.requests if r.status == 200]

    # -- HTTP ----------------------------------------------------------------
    def _send(self, h: BaseHTTPRequestHandler, status: int, payload: Any, headers: dict[str, str] | None = None,
              raw: bytes | None = None) -> None:
        data = raw if raw is not None else json.dumps(payload).encode()
        h.send_response(status)
        h.send_header("content-type", "application/json")
        h.send_header("content-length", str(len(data)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)

    def _error(self, h: BaseHTTPRequestHandler, req: ScriptedRequest, status: int, message: str,
               param: str | None = None, headers: dict[str, str] | None = None) -> None:
        req.status = status
        if req.api == "anthropic":
            kind = {400: "invalid_request_error", 401: "authentication_error", 429: "rate_limit_error",
                    529: "overloaded_error"}.get(status, "api_error")
            payload = {"type": "error", "error": {"type": kind, "message": message}}
        else:
            kind = {400: "invalid_request_error", 401: "invalid_request_error", 429: "rate_limit_exceeded"}.get(
                status, "server_error")
            payload = {"error": {"message": message, "type": kind, "param": param, "code": None}}
        self._send(h, status, payload, headers)

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("content-length") or 0)
        raw = h.rfile.read(length) if length else b""
        path = h.path.split("?")[0]
        api = "openai" if path.endswith("/chat/completions") else "anthropic" if path.endswith("/v1/messages") else ""
        req = ScriptedRequest(api, path, {k.lower(): v for k, v in h.headers.items()}, {})
        with self._lock:
            self.requests.append(req)
        if not api:
            req.status = 404
            self._send(h, 404, {"error": {"message": f"no route {path}"}})
            return
        try:
            req.body = json.loads(raw or b"{}")
        except json.JSONDecodeError as exc:
            self._error(h, req, 400, f"We could not parse the JSON body of your request ({exc.msg}).")
            return
        if self.api_key is not None:
            given = {req.headers.get("authorization", "").removeprefix("Bearer ")}
            if api == "anthropic":  # the SDK sends x-api-key or, in newer versions, a bearer token
                given.add(req.headers.get("x-api-key", ""))
            if self.api_key not in given:
                # Echoes the key it was given (worse than the real services) so scrubbing is put to the test.
                shown = ", ".join(sorted(g for g in given if g))
                self._error(h, req, 401, f"invalid x-api-key: {shown}" if api == "anthropic"
                            else f"Incorrect API key provided: {shown}.")
                return
        if api == "openai":
            refusal = wire.openai_refusal(req.body)
            if refusal:
                self._error(h, req, 400, refusal[0], refusal[1])
                return
        else:
            message = wire.anthropic_refusal(req.body) or anthropic_cache_refusal(req.body)
            if message:
                self._error(h, req, 400, message)
                return
        try:
            reply = self.policy(req)
        except Exception as exc:  # a broken policy is a test bug: report it loudly as a 500
            self.errors.append(f"{type(exc).__name__}: {exc}")
            self._error(h, req, 500, f"policy raised {type(exc).__name__}: {exc}")
            return
        if isinstance(reply, Fault):
            self._fault(h, req, reply)
            return
        payload, usage = self._render(req, reply)
        req.status = 200
        with self._lock:
            self.usage_reported.append(usage)
        self._send(h, 200, payload)

    def _fault(self, h: BaseHTTPRequestHandler, req: ScriptedRequest, fault: Fault) -> None:
        if fault.kind == "hang":
            self._stop.wait(min(fault.seconds, self.hang_cap_s))
            req.status = -1
            h.close_connection = True
            return
        if fault.kind == "broken_body":
            req.status = 200
            shape = {"id": "msg_cut", "type": "message", "content": [{"type": "text"}]} if req.api == "anthropic" \
                else {"id": "chatcmpl-cut", "object": "chat.completion", "choices": [{"index": 0}]}
            text = json.dumps(shape)
            self._send(h, 200, None, raw=text[: len(text) // 2].encode())
            return
        self._error(h, req, fault.status, fault.message, headers=fault.headers)

    # -- rendering -----------------------------------------------------------
    def _render(self, req: ScriptedRequest, reply: Any) -> tuple[dict, dict]:
        truncated = isinstance(reply, Truncated)
        if truncated:
            reply = reply.reply
        if isinstance(reply, dict):
            reply = reply_command(**reply) if "command" not in reply else \
                reply_command(reply["command"], **{k: v for k, v in reply.items() if k != "command"})
        text, calls = "", []
        if isinstance(reply, CommandReply):
            if req.mode == "tools":
                args, blocks = wire.split_fields(reply, wire.tool_properties(req.body.get("tools"), reply.name,
                                                                             req.api))
                text, calls = wire.fenced_text(reply.text, blocks), [(reply.name, args)]
            elif req.mode == "json":
                text = wire.dumps(wire.json_document(reply, req.schema))
            else:
                doc = {"command": reply.name, **reply.fields}
                body = [] if reply.body is None else [(reply.lang, reply.body)]
                text = wire.fenced_text(reply.text, [("json", wire.dumps(doc)), *body])
        else:
            text = str(reply)
        render = self._anthropic if req.api == "anthropic" else self._openai
        return render(req, text, calls, truncated)

    def _openai(self, req: ScriptedRequest, text: str, calls: list, truncated: bool) -> tuple[dict, dict]:
        arguments = [wire.dumps(args) for _, args in calls]
        if truncated:
            text, arguments = wire.cut(text), [wire.cut(a) for a in arguments]
        prompt, cached = self.cache.openai(req.body)
        visible = wire.approx_tokens(text + "".join(arguments))
        reasoning = 2 * visible if wire.REASONING.match(req.model.rsplit("/", 1)[-1]) else 0
        message: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": None}
        if calls:
            message["tool_calls"] = [{"id": f"call_{uuid.uuid4().hex[:12]}", "type": "function",
                                      "function": {"name": name, "arguments": a}}
                                     for (name, _), a in zip(calls, arguments)]
        finish = "length" if truncated else ("tool_calls" if calls else "stop")
        usage = {"prompt_tokens": prompt, "completion_tokens": visible + reasoning,
                 "total_tokens": prompt + visible + reasoning, "prompt_tokens_details": {"cached_tokens": cached},
                 "completion_tokens_details": {"reasoning_tokens": reasoning}}
        payload = {"id": f"chatcmpl-{uuid.uuid4().hex[:16]}", "object": "chat.completion",
                   "created": int(time.time()), "model": req.model,
                   "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
                   "usage": usage}
        return payload, {"input_tokens": prompt, "cached_tokens": cached, "cache_write_tokens": 0,
                         "output_tokens": visible + reasoning,
                         "reasoning_tokens": reasoning}

    def _anthropic(self, req: ScriptedRequest, text: str, calls: list, truncated: bool) -> tuple[dict, dict]:
        content: list[dict] = []
        if truncated:
            text, calls = wire.cut(text), [(name, {}) for name, _ in calls]
        if text:
            content.append({"type": "text", "text": text})
        for name, args in calls:
            content.append({"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:16]}", "name": name, "input": args})
        fresh, read, write = self.cache.anthropic(req.body)
        output = wire.approx_tokens(text + "".join(json.dumps(a) for _, a in calls))
        stop = "max_tokens" if truncated else ("tool_use" if calls else "end_turn")
        payload = {"id": f"msg_{uuid.uuid4().hex[:16]}", "type": "message", "role": "assistant", "model": req.model,
                   "content": content, "stop_reason": stop, "stop_sequence": None,
                   "usage": {"input_tokens": fresh, "cache_creation_input_tokens": write,
                             "cache_read_input_tokens": read, "output_tokens": output}}
        return payload, {"input_tokens": fresh + read + write, "cached_tokens": read, "cache_write_tokens": write,
                         "output_tokens": output, "reasoning_tokens": 0}


def scripted_env(sp: ScriptedProvider | None = None) -> dict[str, str]:
    """Key variables for every hosted preset, all set to the server's key."""
    key = (sp.api_key if sp is not None else None) or TEST_KEY
    return {var: key for var in KEY_VARS}


def scripted_config(sp: ScriptedProvider, *, model: str = "openai:gpt-4o-mini", topic: str = "scripted provider test",
                    **sections: Any) -> ResearchConfig:
    """A config whose every preset points at `sp`; `sections` are merged in (e.g. budget={"dollars": 0.01})."""
    urls = {name: sp.base_url_openai for name in OPENAI_WIRE_PRESETS}
    urls["anthropic"] = sp.base_url_anthropic
    data: dict[str, Any] = {"topic": topic, "phases": [], "models": {"default": model, "retries": 3},
                            "services": {"provider_base_urls": urls}}
    for name, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(name), dict):
            data[name] = {**data[name], **value}
        else:
            data[name] = value
    return config_from_mapping(data, source="scripted_config", env={})
