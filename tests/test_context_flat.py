"""Per-call input stays flat over a long phase: a 30-step plan formulation through the real code.

The postdoc and the PhD talk for 30 steps (the plan comes at the cap), each turn
~600 characters as real agents write, after a five-paper literature review. The
input tokens the provider reported for every call are read back from the cost
ledger: once the transcript's window is full, a role's prompt does not grow.
"""

from __future__ import annotations

from pathlib import Path

from labcoat.phases import available_phases
from labcoat.run.runner import create_run, execute
from labcoat.run.services import attach
from labcoat.store import open_store
from labcoat.workflow import Phase, Workflow

from tests.support.lab_services import LabScript
from tests.support.long_talk import STEPS, TURN, literature, policy
from tests.support.scripted_provider import TEST_KEY, ScriptedProvider, scripted_config


def test_input_tokens_per_call_stay_flat_over_a_30_step_phase(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
    monkeypatch.setenv("LABCOAT_CACHE_DIR", str(tmp_path / "cache"))
    with ScriptedProvider(LabScript({"plan_formulation": policy})) as sp:
        config = scripted_config(sp, phases=["literature_review", "plan_formulation"],
                                 budget={"phase_steps": {"plan_formulation": STEPS}})
        run_dir = create_run(config, tmp_path / "run")
        phases = [Phase("literature_review", literature), available_phases()["plan_formulation"]]
        execute(run_dir, lambda cfg: Workflow(phases), attach=attach)
    with open_store(run_dir, readonly=True) as store:
        assert store.info().state == "finished", store.info().message
        rows = [r for r in store.ledger() if r["phase"] == "plan_formulation"]
    by_step: dict[int, dict] = {}
    for row in rows:
        step = int(row["effect_key"].split("/step/")[1].split("/")[0])
        by_step.setdefault(step, row)
    assert sorted(by_step) == list(range(1, STEPS + 1))
    full = 10  # steps after which any bounded window is full (today's holds 2 turns and 6 digest lines)
    for role in ("postdoc", "phd"):
        # the last three steps carry the lab's "finish soon" line: compare the steps before them
        steady = [r["input_tokens"] for s, r in sorted(by_step.items()) if r["role"] == role and full < s <= STEPS - 3]
        assert len(steady) >= 8, role
        assert max(steady) <= 1.05 * min(steady), (role, steady)
        early = next(r["input_tokens"] for s, r in sorted(by_step.items()) if r["role"] == role and s >= 3)
        last = max(r["input_tokens"] for r in by_step.values() if r["role"] == role)
        assert last <= 1.25 * early, (role, early, last)
    # what the agents said is really in the prompts: a 600-character turn moves the count
    assert min(r["input_tokens"] for r in by_step.values()) > len(TURN) // 4
