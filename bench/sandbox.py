"""Sandbox cost and executor speedup, both sides measured in one run.

1. Start-up: a bare `python -c pass` against the same empty program through
   `run_program` (workdir, namespaces, rlimits, privilege drop, watchdog,
   capture, artefact scan). Interleaved, median of N. Target: <= 20 ms added.
2. Throughput: 8 CPU-bound programs one after another against the same 8 on
   the process-pool executor (workers = cores). Target: >= 1.8x on 2 cores.
   The same 8 programs as bare `python` processes, serial and `cores` at a
   time, give the speedup the machine itself allows (virtual cores on a
   shared host often give less than 2x); `pool_efficiency` is the pool's
   speedup over that ceiling.

Usage: python bench/sandbox.py [--runs 15] [--programs 8] [--work 3000000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from labcoat.executor import ProcessExecutor
from labcoat.sandbox import ProgramSpec, run_program, sandbox_mode
from labcoat.sandbox.bwrap import python_paths


def startup(root: Path, runs: int) -> tuple[float, float]:
    dirs = python_paths(sys.executable)
    bare, boxed = [], []
    for i in range(runs + 2):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        b = time.perf_counter() - t
        spec = ProgramSpec(workdir=str(root / f"start{i}"), code="pass", timeout_s=30, python_paths=dirs)
        t = time.perf_counter()
        result = run_program(spec)
        s = time.perf_counter() - t
        assert result.exit_code == 0, result.stderr
        if i >= 2:  # the first runs warm the page cache
            bare.append(b)
            boxed.append(s)
    return statistics.median(bare) * 1000, statistics.median(boxed) * 1000


def cpu_program(work: int) -> str:
    return f"total = 0\nfor i in range({work}):\n    total += i * i % 7\nprint(total)\n"


def throughput(root: Path, programs: int, work: int, workers: int, rounds: int = 2) -> tuple[float, float]:
    """Best of `rounds` alternating serial/pool rounds (other load on the machine hits both sides)."""
    dirs = python_paths(sys.executable)

    def specs(tag: str) -> list[ProgramSpec]:
        return [ProgramSpec(workdir=str(root / f"{tag}{i}"), code=cpu_program(work), timeout_s=300,
                            python_paths=dirs) for i in range(programs)]

    serial_times, pool_times = [], []
    with ProcessExecutor(workers) as pool:
        pool.submit(sum, [1]).result()  # start the workers before timing
        for r in range(rounds):
            t = time.perf_counter()
            serial = [run_program(s) for s in specs(f"serial{r}-")]
            serial_times.append(time.perf_counter() - t)
            t = time.perf_counter()
            pooled = list(pool.map(run_program, specs(f"pool{r}-")))
            pool_times.append(time.perf_counter() - t)
            assert all(x.exit_code == 0 for x in serial + pooled)
            assert {x.stdout for x in serial} == {x.stdout for x in pooled}
    return min(serial_times), min(pool_times)


def bare_parallel(root: Path, programs: int, work: int, workers: int, rounds: int = 2) -> tuple[float, float]:
    """The machine's own ceiling: the same programs as plain processes, serial then `workers` at a time."""
    script = root / "cpu.py"
    script.write_text(cpu_program(work))
    serial_times, parallel_times = [], []
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(programs):
            subprocess.run([sys.executable, str(script)], check=True, stdout=subprocess.DEVNULL)
        serial_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        running: list[subprocess.Popen] = []
        for _ in range(programs):
            if len(running) == workers:
                running.pop(0).wait()
            running.append(subprocess.Popen([sys.executable, str(script)], stdout=subprocess.DEVNULL))
        for proc in running:
            proc.wait()
        parallel_times.append(time.perf_counter() - t)
    return min(serial_times), min(parallel_times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--programs", type=int, default=8)
    ap.add_argument("--work", type=int, default=3_000_000)
    args = ap.parse_args()
    workers = os.cpu_count() or 1
    root = Path(tempfile.mkdtemp(prefix="labcoat-bench-", dir="/tmp"))
    root.chmod(0o755)
    try:
        bare_ms, boxed_ms = startup(root, args.runs)
        serial_s, pool_s = throughput(root, args.programs, args.work, workers)
        bare_serial_s, bare_parallel_s = bare_parallel(root, args.programs, args.work, workers)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    added = boxed_ms - bare_ms
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"sandbox mode: {sandbox_mode()}, cores: {workers}, uid: {os.geteuid()}, load average: {load}")
    print(f"{'measure':<38}{'value':>12}")
    print(f"{'bare python -c pass (median ms)':<38}{bare_ms:>12.1f}")
    print(f"{'sandboxed empty program (median ms)':<38}{boxed_ms:>12.1f}")
    print(f"{'added start-up (ms, target <= 20)':<38}{added:>12.1f}")
    print(f"{f'{args.programs} CPU-bound programs, serial (s)':<38}{serial_s:>12.2f}")
    print(f"{f'same on the pool, {workers} workers (s)':<38}{pool_s:>12.2f}")
    print(f"{f'bare processes, serial (s)':<38}{bare_serial_s:>12.2f}")
    print(f"{f'bare processes, {workers} at a time (s)':<38}{bare_parallel_s:>12.2f}")
    print(f"startup_ratio: {boxed_ms / bare_ms:.2f}")
    print(f"added_ms: {added:.1f}")
    print(f"speedup: {serial_s / pool_s:.2f}")
    machine = bare_serial_s / bare_parallel_s
    print(f"machine_speedup: {machine:.2f}")
    print(f"pool_efficiency: {serial_s / pool_s / machine:.2f}")


if __name__ == "__main__":
    main()
