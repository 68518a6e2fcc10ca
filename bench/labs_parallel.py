"""Two labs at once vs one after the other (AgentRxiv's parallel labs).

Each lab runs the literature review, plan and data preparation (a real
sandboxed data program) on the scripted model and loopback arXiv, in its own
process, exactly as `labcoat run` with `labs: 2` does. Both sides in one run:
  parallel   - one lab group with labs: 2
  sequential - two lab groups with labs: 1, one after the other
Prints the wall times, then `ratio: X` (parallel / sequential; lower is better).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pytest_httpserver import HTTPServer  # noqa: E402

from labcoat.config.loading import load_config  # noqa: E402
from labcoat.run.labs import create_group, run_group  # noqa: E402
from tests.support.full_lab import FullLab  # noqa: E402
from tests.support.lab_services import recorded_arxiv  # noqa: E402
from tests.support.scripted_provider import TEST_KEY, ScriptedProvider  # noqa: E402
from tests.test_quickstart import QUICKSTART, scripted_overrides  # noqa: E402

FIXTURES = ROOT.parent / "shared" / "fixtures"
PHASES = "phases=[literature_review,plan_formulation,data_preparation]"


def run(tmp: Path, sp, http, name: str, labs: int) -> float:
    config = load_config(QUICKSTART, overrides=[*scripted_overrides(sp, http), PHASES, f"labs={labs}"])
    group = create_group(config, tmp / name)
    started = time.monotonic()
    outcomes = run_group(group, say=lambda _t: None)
    elapsed = time.monotonic() - started
    states = [s for o in outcomes for _, s in o.runs]
    assert states and all(s == "finished" for s in states), states
    return elapsed


def main() -> None:
    os.environ["OPENAI_API_KEY"] = TEST_KEY
    http = HTTPServer(host="127.0.0.1")
    http.start()
    try:
        recorded_arxiv(Path(os.environ.get("LABCOAT_FIXTURES", FIXTURES)), http)
        with tempfile.TemporaryDirectory() as tmp, ScriptedProvider(FullLab()) as sp:
            os.environ["LABCOAT_CACHE_DIR"] = str(Path(tmp) / "cache")
            sequential = run(Path(tmp), sp, http, "one", 1) + run(Path(tmp), sp, http, "two", 1)
            parallel = run(Path(tmp), sp, http, "both", 2)
    finally:
        http.stop()
    print(f"{'mode':>10} {'labs':>5} {'wall s':>8}")
    print(f"{'sequential':>10} {2:>5} {sequential:>8.1f}")
    print(f"{'parallel':>10} {2:>5} {parallel:>8.1f}")
    print(f"load average: {os.getloadavg()[0]:.1f}")
    print(f"ratio: {parallel / sequential:.2f}")


if __name__ == "__main__":
    main()
