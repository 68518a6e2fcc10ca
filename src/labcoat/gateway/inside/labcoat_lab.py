"""Language models for experiment programs, through labcoat's gateway (standard library only).

    from labcoat_lab import ask
    answer = ask("What is 2 + 2?", system="Answer with a number.", temperature=0)

Every call goes to the gateway labcoat serves this program on a Unix socket
(`LABCOAT_GATEWAY_SOCKET`); the provider key never enters the sandbox. The
gateway writes each call to the run's cost ledger, holds it to the budget and
the program's limits, and records it, so a resumed run answers it again from
the record without paying twice. A refusal (a model not allowed, a limit or
the budget reached, a malformed request) raises `GatewayError` with the
gateway's reason. The OpenAI and Anthropic SDKs work too: OPENAI_BASE_URL and
ANTHROPIC_BASE_URL point at the gateway.

Agent Laboratory's helpers are here under their names and arguments:
`query_model(model_str, prompt, system_prompt, ...)`, `query_gpt4omini(prompt,
system, ...)`, `query_gpt4o(...)`, `query_deepseekv3(...)`.
"""

import http.client
import json
import os
import socket

__all__ = ["GatewayError", "allowed_models", "ask", "chat", "query_deepseekv3", "query_gpt4o", "query_gpt4omini",
           "query_model"]


class GatewayError(RuntimeError):
    """The gateway refused or failed a call; `status` is its HTTP status, `reason` its explanation."""

    def __init__(self, status, reason, kind=""):
        self.status = status
        self.reason = reason
        self.kind = kind
        super().__init__(f"labcoat gateway refused the call ({status}{', ' + kind if kind else ''}): {reason}")


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("labcoat-gateway", timeout=timeout)
        self._path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def _request(method, path, body=None, timeout=900.0):
    where = os.environ.get("LABCOAT_GATEWAY_SOCKET")
    token = os.environ.get("LABCOAT_GATEWAY_TOKEN")
    if not where or not token:
        raise GatewayError(0, "this program has no model access: labcoat gives it to experiments when "
                              "`experiments.models` allows a model (and to `labcoat exec --models ...`)")
    conn = _UnixConnection(where, timeout)
    try:
        data = None if body is None else json.dumps(body).encode("utf-8")
        conn.request(method, path, body=data, headers={"Authorization": f"Bearer {token}",
                                                       "Content-Type": "application/json"})
        resp = conn.getresponse()
        payload = resp.read()
    finally:
        conn.close()
    try:
        doc = json.loads(payload or b"{}")
    except ValueError:
        raise GatewayError(resp.status, payload[:300].decode("utf-8", "replace")) from None
    if resp.status != 200:
        err = doc.get("error") if isinstance(doc, dict) else None
        err = err if isinstance(err, dict) else {"message": str(doc)[:300]}
        raise GatewayError(resp.status, err.get("message", ""), err.get("type", ""))
    return doc


def allowed_models():
    """The models this program may call (labcoat's `provider:model` names)."""
    return [m["id"] for m in _request("GET", "/v1/models")["data"]]


def chat(messages, model=None, temperature=None, max_tokens=None, **kw):
    """One chat completion (OpenAI's response shape, as a dict)."""
    body = {"model": model or os.environ.get("LABCOAT_LAB_MODEL", ""), "messages": list(messages)}
    if temperature is not None:
        body["temperature"] = temperature
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    body.update(kw)
    return _request("POST", "/v1/chat/completions", body)


def ask(prompt, system=None, model=None, temperature=None, **kw):
    """The model's answer to `prompt` (after `system`, when given) as text."""
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    reply = chat(messages, model=model, temperature=temperature, **kw)
    return reply["choices"][0]["message"]["content"] or ""


def query_model(model_str, prompt, system_prompt, openai_api_key=None, anthropic_api_key=None, tries=5,
                timeout=5.0, temp=None, print_cost=True, version="1.5", **_ignored):
    """Agent Laboratory's `query_model`: keys, tries and versions are not needed here and are ignored."""
    return ask(prompt, system=system_prompt, model=model_str, temperature=temp)


def query_gpt4omini(prompt, system=None, api_key=None, attempt=0, temperature=0.0, **_ignored):
    """Agent Laboratory's helper for gpt-4o-mini (its key argument is not needed and is ignored)."""
    return ask(prompt, system=system, model="gpt-4o-mini", temperature=temperature)


def query_gpt4o(prompt, system=None, api_key=None, attempt=0, temperature=0.0, **_ignored):
    """Agent Laboratory's helper for gpt-4o."""
    return ask(prompt, system=system, model="gpt-4o", temperature=temperature)


def query_deepseekv3(prompt, system=None, api_key=None, attempt=0, temperature=0.0, **_ignored):
    """Agent Laboratory's helper for DeepSeek V3 (deepseek-chat)."""
    return ask(prompt, system=system, model="deepseek-chat", temperature=temperature)
