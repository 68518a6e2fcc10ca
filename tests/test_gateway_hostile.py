"""A hostile experiment program against the gateway: no key anywhere, no route out, refusals with reasons.

Each attempt's outcome is written by the program and checked here; the
gateway must answer a valid call afterwards (it kept running) and the run's
lifecycle log must hold the refusals.
"""

from __future__ import annotations

import json
import os
import socket

import httpx

from labcoat.executor.recorded import run_in_sandbox

from tests.support.scripted_provider import TEST_KEY
from tests.test_gateway import KEY, lab

HOSTILE = r'''
import glob, json, os, socket
import httpx
from labcoat_lab import GatewayError, ask
KEY = os.environ["SECRET_PROBE"][::-1]  # given reversed: the probe itself is no copy of the key
out = {"found": []}
# 1. the key in the environment, in any process's environ or command line, in any readable file
if any(KEY in v for v in os.environ.values()):
    out["found"].append("env")
for path in glob.glob("/proc/[0-9]*/environ") + glob.glob("/proc/[0-9]*/cmdline"):
    try:
        if KEY.encode() in open(path, "rb").read():
            out["found"].append(path)
    except OSError:
        pass
for root in ["/run/labcoat", os.environ["HOME"], "/tmp", "/etc"]:
    for base, _, files in os.walk(root):
        for f in files:
            try:
                if KEY.encode() in open(os.path.join(base, f), "rb").read(1 << 20):
                    out["found"].append(os.path.join(base, f))
            except OSError:
                pass
# 2. the provider directly
try:
    socket.create_connection(("127.0.0.1", int(os.environ["PROVIDER_PORT"])), timeout=3).close()
    out["direct"] = "connected"
except OSError as e:
    out["direct"] = type(e).__name__
try:
    socket.create_connection(("1.1.1.1", 443), timeout=3).close()
    out["internet"] = "connected"
except OSError as e:
    out["internet"] = type(e).__name__
# 3. requests the gateway must refuse
url = os.environ["OPENAI_BASE_URL"] + "/chat/completions"
good = {"Authorization": "Bearer " + os.environ["OPENAI_API_KEY"]}
msgs = [{"role": "user", "content": "hi"}]
def status(body=None, headers=good, content=None):
    r = httpx.post(url, json=body, content=content, headers=headers, timeout=30)
    try:
        return [r.status_code, r.json()["error"]["message"]]
    except Exception as e:
        return [r.status_code, "unreadable: " + r.text[:100]]
out["no_token"] = status({"model": "gpt-4o-mini", "messages": msgs}, headers={})
out["real_key_guess"] = status({"model": "gpt-4o-mini", "messages": msgs}, headers={"Authorization": "Bearer sk-guess"})
out["disallowed"] = status({"model": "openai:gpt-4o", "messages": msgs})
out["unknown_model"] = status({"model": "nonsense", "messages": msgs})
out["not_json"] = status(content=b"{not json", headers={**good, "content-type": "application/json"})
out["bad_messages"] = status({"model": "gpt-4o-mini", "messages": "hi"})
out["bad_role"] = status({"model": "gpt-4o-mini", "messages": [{"role": "tool", "content": "x"}]})
out["image"] = status({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x"}}]}]})
out["tools"] = status({"model": "gpt-4o-mini", "messages": msgs, "tools": []})
out["n"] = status({"model": "gpt-4o-mini", "messages": msgs, "n": 3})
out["temperature"] = status({"model": "gpt-4o-mini", "messages": msgs, "temperature": "hot"})
out["huge"] = status(content=b"x" * (9 * 1024 * 1024), headers={**good, "content-type": "application/json"})
out["other_route"] = [httpx.get(os.environ["LABCOAT_GATEWAY_URL"] + "/admin", headers=good).status_code]
# 4. garbage bytes straight on the socket
for garbage in [b"\x00\xff\xfe garbage\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", os.urandom(4096), b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 99999999\r\n\r\nabc"]:
    s = socket.socket(socket.AF_UNIX)
    s.connect(os.environ["LABCOAT_GATEWAY_SOCKET"])
    s.sendall(garbage)
    s.shutdown(socket.SHUT_WR)
    s.settimeout(10)
    try:
        s.recv(100)
    except OSError:
        pass
    s.close()
# 5. the gateway still answers
out["after"] = ask("still there?")
out["token"] = os.environ["OPENAI_API_KEY"]
json.dump(out, open("out.json", "w"))
'''


def test_a_hostile_program_finds_no_key_no_route_out_and_gets_reasons(tmp_path):
    with lab(tmp_path) as (sp, ctx):
        result = run_in_sandbox(ctx, KEY.format(0), HOSTILE,
                                env={"SECRET_PROBE": TEST_KEY[::-1], "PROVIDER_PORT": str(sp.port)})
        assert result["exit_code"] == 0, result["stderr"][-3000:]
        out = json.loads((ctx.run_dir / result["workdir"] / "out.json").read_text())
        socket_path = ctx.gateway._gateway.socket_path
        # the program's token is worthless once it has ended
        stale = httpx.Client(transport=httpx.HTTPTransport(uds=socket_path)).post(
            "http://gateway/v1/chat/completions", headers={"Authorization": f"Bearer {out['token']}"},
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]})
        refused_log = [e for e in ctx.store.lifecycle() if e["kind"] == "gateway_refused"]
    assert out["found"] == []
    assert out["direct"] in ("ConnectionRefusedError", "OSError") and out["internet"] != "connected"
    # on its own socket the program is known whatever key it sends (code that overwrites OPENAI_API_KEY works);
    # the key it sends goes nowhere
    assert out["no_token"][0] == 200 and out["real_key_guess"][0] == 200
    expected = {"disallowed": 403, "unknown_model": 403, "not_json": 400,
                "bad_messages": 400, "bad_role": 400, "image": 400, "tools": 400, "n": 400, "temperature": 400,
                "huge": 413}
    assert {k: out[k][0] for k in expected} == expected, out
    assert "allowed: openai:gpt-4o-mini" in out["disallowed"][1]
    assert "tools" in out["tools"][1] and "temperature" in out["temperature"][1]
    assert out["other_route"] == [404]
    assert out["after"] == "echo still there?"
    assert stale.status_code == 401
    assert len(sp.served) == 3  # the valid calls, with labcoat's key
    assert all(r.headers["authorization"] == f"Bearer {TEST_KEY}" for r in sp.requests)
    assert {r["status"] for r in result["model_calls"]["refused"]} == {400, 403, 413}
    assert len(refused_log) >= len(expected)
    assert TEST_KEY not in json.dumps(result)


def test_the_token_is_not_a_provider_key_and_the_socket_refuses_other_clients(tmp_path):
    with lab(tmp_path) as (sp, ctx):
        grant = ctx.gateway.open("running_experiments#0/probe")
        path = ctx.gateway._gateway.socket_path  # the shared socket: a token is needed there
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(path)
            s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(200))  # a TLS hello
            s.settimeout(10)
            reply = s.recv(200)
        assert reply.startswith(b"HTTP/1.1 400")
        client = httpx.Client(transport=httpx.HTTPTransport(uds=path))
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
        ok = client.post("http://gateway/v1/chat/completions", json=body,
                         headers={"Authorization": f"Bearer {grant.token}"})
        guessed = client.post("http://gateway/v1/chat/completions", json=body,
                              headers={"Authorization": f"Bearer {TEST_KEY}"})
        own = ctx.gateway.access(grant)["socket"]
        ctx.gateway.revoke(grant)
        gone = not os.path.exists(own)
        revoked = client.post("http://gateway/v1/chat/completions", json=body,
                              headers={"Authorization": f"Bearer {grant.token}"})
        provider = httpx.post(f"{sp.base_url_openai}/chat/completions", json=body,
                               headers={"Authorization": f"Bearer {grant.token}"})
    assert ok.status_code == 200 and guessed.status_code == 401 and revoked.status_code == 401
    assert gone  # the program's own socket ends with its grant
    assert grant.token.startswith("lcgw-") and provider.status_code == 401
