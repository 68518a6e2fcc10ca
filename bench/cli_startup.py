"""How long does `labcoat` take to start?

Times, alternately and several times each, a bare interpreter (`python -c pass`), the
`labcoat --help` console script, and `labcoat runs` on an empty folder of runs (a light
command that opens no model). The median wall time of each is reported, in milliseconds.
The LLM SDKs, the web stack and the research tools are imported only by the commands
that use them, so start-up should stay a small multiple of the bare interpreter's.

Prints a table, then `ratio: X` last: median `labcoat --help` / median `python -c pass`.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPEATS = 7
LABCOAT = Path(sys.executable).with_name("labcoat")


def wall_ms(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return (time.perf_counter() - start) * 1000


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "LABCOAT_RUNS": str(Path(tmp) / "runs")}
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "labcoat --help": [str(LABCOAT), "--help"],
            "labcoat runs": [str(LABCOAT), "runs"],
        }
        for argv in commands.values():  # warm the file cache and the bytecode
            wall_ms(argv, env)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(REPEATS):  # interleaved, so a noisy moment hits every command alike
            for name, argv in commands.items():
                times[name].append(wall_ms(argv, env))
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"{'command':<16} {'median ms':>10} {'min ms':>8} {'max ms':>8}")
    for name, values in times.items():
        print(f"{name:<16} {medians[name]:>10.0f} {min(values):>8.0f} {max(values):>8.0f}")
    print(f"ratio: {medians['labcoat --help'] / medians['python -c pass']:.1f}")


if __name__ == "__main__":
    main()
