"""`labcoat` starts without importing the LLM SDKs, the web stack or the research tools.

Each check runs in a fresh interpreter (a module imported once stays imported), runs
the command through `labcoat.cli.main` as the console script does, and lists which
of the heavy packages it loaded. Importing the Anthropic and OpenAI SDKs alone took
about three seconds; a backend imports its SDK when a model of its provider is built.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from labcoat.store import RunStore
from tests.support import pipeline_app

HEAVY = ("anthropic", "openai", "fastapi", "huggingface_hub", "arxiv", "genai_prices", "pypdfium2", "numpy")

_PROBE = """
import json, sys
import labcoat.cli
try:
    labcoat.cli.main(sys.argv[1:])
except SystemExit as exc:
    if exc.code:
        raise
heavy = {heavy!r}
print(json.dumps([name for name in heavy if name in sys.modules]), file=sys.stderr)
"""


def _heavy_loaded(*args: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", _PROBE.format(heavy=HEAVY), *args],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stderr.strip().splitlines()[-1])


def test_importing_the_cli_loads_no_sdk() -> None:
    probe = ("import sys, labcoat.cli; labcoat.cli.build_app(); "
             f"print([m for m in {HEAVY!r} if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.fixture
def finished_run(tmp_path: Path) -> Path:
    run_dir = tmp_path / "runs" / "pipeline"
    pipeline_app.main([str(run_dir), str(tmp_path / "counter.log"), "--create"])
    with RunStore(run_dir, readonly=True) as store:
        assert store.info().state == "finished"
    return run_dir


def test_help_and_the_inspecting_commands_load_no_heavy_package(finished_run: Path) -> None:
    runs = str(finished_run.parent)
    assert _heavy_loaded("--help") == []
    assert _heavy_loaded("runs", "--runs", runs) == []
    assert _heavy_loaded("status", str(finished_run)) == []
    assert _heavy_loaded("show", str(finished_run)) == []


def test_a_model_imports_only_its_own_providers_sdk() -> None:
    probe = ("import sys; from labcoat.llm.model import Model; from labcoat.llm.presets import parse_model; "
             "Model(parse_model('anthropic:claude-sonnet-4-5'), base_url='http://127.0.0.1:9', api_key='k'); "
             "print(sorted(m for m in ('anthropic', 'openai') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['anthropic']"
