"""Research configs: Agent Laboratory YAML, clear errors, `--set`, environment overrides."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from labcoat.config.loading import load_config
from labcoat.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
LABCOAT = Path(sys.executable).with_name("labcoat")

AGENTLAB_YAML = """\
# Agent Laboratory's own format, keys as its README writes them
copilot-mode: "false"
research-topic: "Would a small language model rank arithmetic word problems by difficulty like people do?"
api-key-env: ignored-by-both
llm-backend: "o4-mini"
lit-review-backend: "gpt-4o-mini"
language: 中文
num-papers-lit-review: "3"
mlesolver-max-steps: 4
papersolver-max-steps: 2
datasolver-max-steps: 7
compile-latex: "false"
num-papers-to-write: 2
parallel-labs: True
agentRxiv: True
load-existing: False
except-if-fail: False
lab-index: 1
task-notes:
  literature-review:
    - "Focus on difficulty estimation."
  plan-formulation:
    - "Only one experiment."
    - "Use the dev split for choices."
  running-experiments: "Use gpt-4o-mini."
"""


def _write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_agent_laboratory_yaml_loads_and_maps(tmp_path: Path) -> None:
    text = AGENTLAB_YAML.replace("api-key-env: ignored-by-both\n", "")
    cfg = load_config(_write(tmp_path, text), env={})
    assert cfg.topic.startswith("Would a small language model")
    assert cfg.language == "中文"
    assert cfg.models.default == "o4-mini"
    assert cfg.models.for_agent("literature_review", "phd") == "gpt-4o-mini"
    assert cfg.models.for_agent("plan_formulation", "postdoc") == "o4-mini"
    assert cfg.budget.lit_review_papers == 3
    assert (cfg.budget.mle_steps, cfg.budget.paper_steps) == (4, 2)
    assert cfg.budget.steps_for("data_preparation") == 7
    assert cfg.copilot.enabled is False
    assert cfg.report.compile_latex is False
    assert cfg.papers_to_write == 2
    assert cfg.labs == 2
    assert cfg.archive.enabled is True
    assert cfg.notes_for("literature_review") == ["Focus on difficulty estimation."]
    assert cfg.notes_for("plan_formulation") == ["Only one experiment.", "Use the dev split for choices."]
    assert cfg.notes_for("running_experiments") == ["Use gpt-4o-mini."]
    explained = " ".join(cfg.compat_notes)
    for key in ("load-existing", "except-if-fail", "lab-index"):
        assert f"'{key}' accepted" in explained


@pytest.mark.parametrize("written, expected", [("True", True), ("true", True), ('"True"', True),
                                               ("False", False), ('"false"', False)])
def test_copilot_mode_accepts_yaml_and_string_booleans(tmp_path: Path, written: str, expected: bool) -> None:
    cfg = load_config(_write(tmp_path, f"research-topic: x\ncopilot-mode: {written}\n"), env={})
    assert cfg.copilot.enabled is expected


def test_shipped_agent_laboratory_example_loads() -> None:
    raw = (REPO / "examples" / "MATH_agentlab.yaml").read_text(encoding="utf-8")
    cfg = load_config(REPO / "examples" / "MATH_agentlab.yaml", env={})
    assert cfg.topic and cfg.topic in raw
    assert cfg.models.default in raw
    assert cfg.notes_for("plan_formulation")


def test_set_overrides_dotted_paths(tmp_path: Path) -> None:
    path = _write(tmp_path, "topic: scaling laws\nbudget:\n  dollars: 1\n")
    cfg = load_config(path, overrides=["budget.dollars=5.5", "models.phases.plan_formulation=gpt-4o",
                                       "copilot.enabled=true", "language=Deutsch", "topic=a: b = c"], env={})
    assert cfg.budget.dollars == 5.5
    assert cfg.models.for_agent("plan_formulation", None) == "gpt-4o"
    assert cfg.copilot.enabled is True
    assert cfg.language == "Deutsch"
    assert cfg.topic == "a: b = c"


@pytest.mark.parametrize("override, path, words", [
    ("budget.mle_steps=lots", "budget.mle_steps", "valid integer"),
    ("budget.mle_steps.cap=1", "budget.mle_steps.cap", "'mle_steps' is not a section"),
    ("budget.mle_step=2", "budget.mle_step", "did you mean 'mle_steps'"),
    ("no-equals-sign", None, "KEY=VALUE"),
    ("models.api_key=sk-live-123", "models.api_key", "environment variable"),
])
def test_bad_set_overrides_name_the_key(tmp_path: Path, override: str, path: str | None, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, "topic: x\nbudget:\n  mle_steps: 3\n"), overrides=[override], env={})
    assert caught.value.path == path
    assert words in str(caught.value)
    assert "sk-live-123" not in str(caught.value)


def test_environment_sets_service_urls_unless_the_config_does(tmp_path: Path) -> None:
    env = {"LABCOAT_ARXIV_API": "http://127.0.0.1:8001/api/query", "HF_ENDPOINT": "http://127.0.0.1:8002"}
    cfg = load_config(_write(tmp_path, "topic: x\n"), env=env)
    assert cfg.services.arxiv_api == "http://127.0.0.1:8001/api/query"
    assert cfg.services.hf_endpoint == "http://127.0.0.1:8002"
    pinned = _write(tmp_path, "topic: x\nservices:\n  hf_endpoint: http://127.0.0.1:8003\n", "pinned.yaml")
    cfg = load_config(pinned, env=env)
    assert cfg.services.hf_endpoint == "http://127.0.0.1:8003"
    assert cfg.services.arxiv_api == "http://127.0.0.1:8001/api/query"
    assert load_config(pinned, env={}).services.arxiv_api == "https://export.arxiv.org/api/query"


def test_nested_secret_is_refused_with_its_path(tmp_path: Path) -> None:
    path = _write(tmp_path, "topic: x\nmodels:\n  default: gpt-4o\n  openai_api_key: sk-nested-999\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert caught.value.path == "models.openai_api_key"
    assert "sk-nested-999" not in str(caught.value)


BAD_CONFIGS = {
    "bad_yaml": ("research-topic: x\nlanguage: [unclosed\n", None, "invalid YAML at line"),
    "unknown_key": ("topic: x\nbudget:\n  mle_stesp: 3\n", "budget.mle_stesp", "did you mean 'mle_steps'"),
    "unknown_top_key": ("topic: x\nbudgte: {}\n", "budgte", "did you mean 'budget'"),
    "wrong_type": ("topic: x\nbudget:\n  reviewers: three\n", "budget.reviewers", "valid integer"),
    "agentlab_wrong_type": ("research-topic: x\nmlesolver-max-steps: many\n", "mlesolver-max-steps",
                            "whole number"),
    "agentlab_bad_bool": ("research-topic: x\ncopilot-mode: maybe\n", "copilot-mode",
                          "valid boolean, unable to interpret input (got 'maybe') (labcoat's copilot.enabled)"),
    "unknown_phase": ("research-topic: x\ntask-notes:\n  literature-reveiw: [a]\n",
                      "task-notes.literature-reveiw", "did you mean 'literature_review'"),
    "missing_topic": ("language: English\nnum-papers-lit-review: 2\n", "topic", "research topic is missing"),
    "blank_topic": ("topic: '   '\n", "topic", "topic is empty"),
    "api_key": ("research-topic: x\nopenai-api-key: sk-proj-SECRET-42\n", "openai-api-key", "environment variable"),
    "not_a_mapping": ("- a\n- b\n", None, "must be a YAML mapping"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_config_gives_one_clear_error(tmp_path: Path, case: str) -> None:
    text, path, words = BAD_CONFIGS[case]
    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, text), env={})
    assert caught.value.path == path
    assert words in str(caught.value)
    assert "SECRET" not in str(caught.value)


@pytest.mark.parametrize("case", ["bad_yaml", "unknown_key", "wrong_type", "missing_topic", "api_key"])
def test_cli_reports_bad_config_in_one_line_with_exit_code_2(tmp_path: Path, case: str) -> None:
    text, path, words = BAD_CONFIGS[case]
    config = _write(tmp_path, text)
    env = {**os.environ, "LABCOAT_RUNS": str(tmp_path / "runs"), "COLUMNS": "60"}
    proc = subprocess.run([str(LABCOAT), "run", str(config)], capture_output=True, text=True, env=env,
                          timeout=60, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"config error: {config}: ")
    if path:
        assert f": {path}: " in lines[0]
    assert words in lines[0]
    assert "SECRET" not in proc.stderr + proc.stdout
    assert not (tmp_path / "runs").exists()  # nothing was created for a config that did not load


def test_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "absent.yaml")


def test_agentlab_keys_and_a_labcoat_section_merge_in_either_order():
    from labcoat.config.loading import config_from_mapping

    for raw in ({"research-topic": "t", "llm-backend": "gpt-4o", "models": {"max_tokens": 900}},
                {"research-topic": "t", "models": {"max_tokens": 900}, "llm-backend": "gpt-4o"}):
        cfg = config_from_mapping(raw, env={})
        assert cfg.models.default == "gpt-4o" and cfg.models.max_tokens == 900
