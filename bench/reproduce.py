"""Reproducing a paper from its bundle vs running its experiments in the first place.

Runs the quickstart on the scripted lab (real sandbox, real scikit-learn,
real LaTeX), exports its bundle, moves the run folder away and reproduces
the bundle in a fresh folder. The original experiment time is the sandbox
time of every program the run executed (data preparation, every mle-solver
candidate and repair, the final test run), as recorded in its store; the
reproduction re-runs only the programs behind the paper's numbers, plus the
checks (hashes, environment).

Prints a table, then `ratio: X` (reproduce wall time / original experiment
time) on the last line.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labcoat.bundle.export import export_run  # noqa: E402
from labcoat.bundle.reproduce import reproduce  # noqa: E402
from labcoat.store import RunStore  # noqa: E402

from tests.support.bundled_run import full_run  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="labcoat-bench-reproduce-") as tmp:
        base = Path(tmp)
        run_seconds = full_run(base / "run", base / "cache")
        with RunStore(base / "run", readonly=True) as store:
            rows = store.db.execute("SELECT COUNT(*), COALESCE(SUM(duration_s), 0) FROM effects WHERE kind='exec'")
            programs, experiment_s = rows.fetchone()
        start = time.perf_counter()
        exported = export_run(base / "run", base / "out" / "bundle.zip")
        export_s = time.perf_counter() - start
        (base / "run").rename(base / "moved-away")
        start = time.perf_counter()
        result = reproduce(exported.path, workdir=base / "fresh")
        reproduce_s = time.perf_counter() - start
    rerun_s = sum(p.duration_s for p in result.programs)
    print(f"{'what':<44}{'seconds':>10}")
    print(f"{'whole scripted run (all seven phases)':<44}{run_seconds:>10.1f}")
    print(f"{f'original experiments ({programs} programs, sandbox)':<44}{experiment_s:>10.1f}")
    print(f"{'export (bundle zip, environment probe)':<44}{export_s:>10.1f}")
    print(f"{f'reproduce: {len(result.programs)} programs in the sandbox':<44}{rerun_s:>10.1f}")
    print(f"{'reproduce: wall time (unzip, checks, runs)':<44}{reproduce_s:>10.1f}")
    print(f"stated metrics matched: {sum(r.match for r in result.rows)} of {len(result.rows)}")
    if not result.ok:
        raise SystemExit("the reproduction did not match; the ratio would mean nothing")
    print(f"ratio: {reproduce_s / experiment_s:.2f}")


if __name__ == "__main__":
    main()
