"""Does the prompt stay flat as a dialogue goes on?

After a literature review of five papers (a stand-in phase), a scripted
plan-formulation dialogue of 30 steps (postdoc and PhD talk; the
plan comes only at the last step) runs through the real phase code, LLM layer
and run store against the scripted provider on loopback. Each turn says ~600
characters, as real agents do. We read the input tokens the provider reported
for every call from the cost ledger and compare step 30 with step 3, and the
share of the prompt served as a cached stable prefix.

Prints a table, then `ratio: X` last: the larger of step 29 / step 3 (postdoc)
and step 30 / step 4 (PhD) input tokens.
Target: <= 1.2.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from labcoat.phases import available_phases  # noqa: E402
from labcoat.run.runner import create_run, execute  # noqa: E402
from labcoat.run.services import attach  # noqa: E402
from labcoat.store import open_store  # noqa: E402
from labcoat.workflow import Phase, Workflow  # noqa: E402
from tests.support.lab_services import LabScript, who  # noqa: E402
from tests.support.long_talk import STEPS, literature, policy  # noqa: E402
from tests.support.scripted_provider import TEST_KEY, ScriptedProvider, scripted_config  # noqa: E402

def main() -> None:
    os.environ["OPENAI_API_KEY"] = TEST_KEY
    with tempfile.TemporaryDirectory() as tmp, ScriptedProvider(LabScript({"plan_formulation": policy})) as sp:
        os.environ["LABCOAT_CACHE_DIR"] = str(Path(tmp) / "cache")
        config = scripted_config(sp, phases=["literature_review", "plan_formulation"],
                                 budget={"phase_steps": {"plan_formulation": STEPS}})
        run_dir = create_run(config, Path(tmp) / "run")
        phases = [Phase("literature_review", literature), available_phases()["plan_formulation"]]
        execute(run_dir, lambda cfg: Workflow(phases), attach=attach)
        with open_store(run_dir, readonly=True) as store:
            assert store.info().state == "finished", store.info().message
            rows = {r["effect_key"]: r for r in store.ledger()}
        served = [who(r) for r in sp.requests]
    per_step: dict[int, dict] = {}
    for key, row in rows.items():
        step = int(key.split("/step/")[1].split("/")[0])
        per_step.setdefault(step, row)
    print(f"{'step':>5} {'role':>8} {'input tok':>10} {'cached':>8} {'prefix share':>13}")
    for step in (1, 2, 3, 4, 10, 20, STEPS - 1, STEPS):
        row = per_step[step]
        share = row["cached_tokens"] / row["input_tokens"] if row["input_tokens"] else 0.0
        print(f"{step:>5} {row['role']:>8} {row['input_tokens']:>10} {row['cached_tokens']:>8} {share:>13.2f}")
    # Compare each role with itself: the postdoc's prompt also carries the plan command's schema.
    ratios = [per_step[late]["input_tokens"] / per_step[early]["input_tokens"]
              for early, late in ((3, STEPS - 1), (4, STEPS))]
    share = per_step[STEPS - 1]["cached_tokens"] / per_step[STEPS - 1]["input_tokens"]
    print(f"calls: {len(served)}; step {STEPS - 1} vs 3 (postdoc) {ratios[0]:.2f}, step {STEPS} vs 4 (phd) "
          f"{ratios[1]:.2f}; stable-prefix share at step {STEPS - 1}: {share:.2f}")
    print(f"ratio: {max(ratios):.2f}")


if __name__ == "__main__":
    main()
