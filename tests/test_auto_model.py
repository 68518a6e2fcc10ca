"""`model: auto`: provider keys, then a reachable Ollama (fake, on loopback), then the local model."""

from __future__ import annotations

import socket
import threading

import pytest
from werkzeug import Response

from labcoat.llm.auto import LOCAL_MODEL, ollama_base_url, pick_ollama_model, resolve_auto


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _tags(*names: str) -> dict:
    return {"models": [{"name": n, "model": n, "size": 1000} for n in names]}


@pytest.mark.parametrize(("env", "expected", "var"), [
    ({"OPENAI_API_KEY": "sk-secret-1"}, "openai:gpt-4o-mini", "OPENAI_API_KEY"),
    ({"ANTHROPIC_API_KEY": "sk-ant-secret", "OPENAI_API_KEY": "sk-secret-1"}, "openai:gpt-4o-mini", "OPENAI_API_KEY"),
    ({"ANTHROPIC_API_KEY": "sk-ant-secret", "GEMINI_API_KEY": "g-secret"}, "anthropic:claude-sonnet-4-6",
     "ANTHROPIC_API_KEY"),
    ({"DEEPSEEK_API_KEY": "ds-secret", "OPENROUTER_API_KEY": "or-secret"}, "deepseek:deepseek-chat",
     "DEEPSEEK_API_KEY"),
    ({"GEMINI_API_KEY": "g-secret", "OPENROUTER_API_KEY": "or-secret"}, "gemini:gemini-2.5-flash", "GEMINI_API_KEY"),
    ({"OPENROUTER_API_KEY": "or-secret", "OPENAI_API_KEY": "  "}, "openrouter:openai/gpt-4o-mini",
     "OPENROUTER_API_KEY"),
])
def test_provider_key_wins_in_order_and_value_is_never_shown(env, expected, var, httpserver):
    httpserver.expect_request("/api/tags").respond_with_json(_tags("qwen2.5-coder:7b"))
    model, reason = resolve_auto(env=env, ollama_url=httpserver.url_for("").rstrip("/"))
    assert model == expected
    assert var in reason and expected in reason
    for value in env.values():
        if value.strip():
            assert value not in reason
    # A key short-circuits: Ollama is not even asked.
    assert len(httpserver.log) == 0


def test_reachable_ollama_prefers_a_coder_model(httpserver):
    httpserver.expect_request("/api/tags", method="GET").respond_with_json(
        _tags("nomic-embed-text:latest", "llama3.2:latest", "qwen2.5-coder:7b", "mistral:7b-instruct"))
    url = httpserver.url_for("").rstrip("/")
    model, reason = resolve_auto(env={}, ollama_url=url)
    assert model == "ollama:qwen2.5-coder:7b"
    assert url in reason and "no provider key" in reason


def test_ollama_host_variable_is_honoured(httpserver):
    httpserver.expect_request("/api/tags").respond_with_json(_tags("llama3.2:latest"))
    host = f"{httpserver.host}:{httpserver.port}"
    model, _ = resolve_auto(env={"OLLAMA_HOST": host})
    assert model == "ollama:llama3.2:latest"
    assert len(httpserver.log) == 1


def test_ollama_with_only_embedding_models_falls_back_to_local(httpserver):
    httpserver.expect_request("/api/tags").respond_with_json(_tags("nomic-embed-text:latest", "bge-m3:latest"))
    model, reason = resolve_auto(env={}, ollama_url=httpserver.url_for("").rstrip("/"))
    assert model == LOCAL_MODEL
    assert "only embedding models" in reason and "ollama pull" in reason


def test_empty_ollama_falls_back_to_local(httpserver):
    httpserver.expect_request("/api/tags").respond_with_json({"models": []})
    model, reason = resolve_auto(env={}, ollama_url=httpserver.url_for("").rstrip("/"))
    assert model == LOCAL_MODEL
    assert "no models pulled" in reason


def test_no_key_and_no_ollama_chooses_local_and_says_it_is_not_for_research():
    url = _closed_port_url()
    model, reason = resolve_auto(env={}, ollama_url=url)
    assert model == LOCAL_MODEL
    assert "for trying labcoat, not for research" in reason
    assert f"no Ollama answered at {url}" in reason
    assert "OPENAI_API_KEY" in reason


def test_non_json_answer_is_not_taken_for_ollama(httpserver):
    httpserver.expect_request("/api/tags").respond_with_data("<html>router login</html>", content_type="text/html")
    model, reason = resolve_auto(env={}, ollama_url=httpserver.url_for("").rstrip("/"))
    assert model == LOCAL_MODEL
    assert "other than JSON" in reason


def test_slow_ollama_is_abandoned_within_the_timeout(httpserver):
    release, answered = threading.Event(), threading.Event()

    def slow(_request):
        release.wait(60)  # holds the answer until the test has its result
        answered.set()
        return Response('{"models": [{"name": "llama3.2:latest"}]}', content_type="application/json")

    httpserver.expect_request("/api/tags").respond_with_handler(slow)
    try:
        model, reason = resolve_auto(env={}, ollama_url=httpserver.url_for("").rstrip("/"), timeout=0.3)
        assert not answered.is_set()  # it gave up before Ollama answered
    finally:
        release.set()
    assert model == LOCAL_MODEL
    assert "ReadTimeout" in reason


@pytest.mark.parametrize(("host", "url"), [
    ("", "http://127.0.0.1:11434"),
    ("0.0.0.0", "http://127.0.0.1:11434"),
    ("127.0.0.1:11500", "http://127.0.0.1:11500"),
    ("https://ollama.lan:443", "https://ollama.lan:443"),
    ("[::1]:11434", "http://[::1]:11434"),
])
def test_ollama_host_forms(host, url):
    assert ollama_base_url(host) == url


def test_pick_keeps_ollama_order_among_equals():
    assert pick_ollama_model(["llama3.2:latest", "phi3:mini"]) == "llama3.2:latest"
    assert pick_ollama_model(["llama3.2:latest", "gemma3:4b-it-qat"]) == "gemma3:4b-it-qat"
    assert pick_ollama_model(["mxbai-embed-large:latest"]) is None
