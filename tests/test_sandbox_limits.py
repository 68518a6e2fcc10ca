"""Limits that hold for each program: /tmp counted, a disk quota, processes per program, no user namespaces."""

from __future__ import annotations

import os
import re
import shutil
import threading
import time

import pytest

from labcoat.sandbox import ProgramSpec, run_program
from labcoat.sandbox.limits import MB, disk_usage

pytestmark = [pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed"),
              pytest.mark.timeout(120)]


def _spec(tmp_path, code: str, name: str = "work", **kw) -> ProgramSpec:
    base = dict(timeout_s=60, memory_mb=256, max_processes=64, file_size_mb=100, mode="bwrap")
    base.update(kw)
    return ProgramSpec(workdir=str(tmp_path / name), code=code, **base)


WRITE_TMP = """
import os
written = 0
try:
    for i in range(6):
        with open(f"/tmp/big{i}", "wb") as f:
            for _ in range(250):
                f.write(b"x" * (1 << 20))
                written += 1
finally:
    print("WROTE", written, flush=True)
"""


def test_the_private_tmp_is_sized_and_counted_as_memory(tmp_path):
    r = run_program(_spec(tmp_path, WRITE_TMP, file_size_mb=400))
    assert not r.ok
    # The kill may land while the program prints its count: no count means none confirmed.
    counted = re.search(r"WROTE (\d+)", r.stdout)
    wrote = int(counted.group(1)) if counted else 0
    assert wrote <= 256, r.stdout  # 6 x 250 MB asked for; the tmpfs holds the memory limit at most
    assert r.killed_by in ("memory", "disk"), (r.killed_by, r.stderr[-500:])


WRITE_WORKDIR = """
for i in range(10):
    with open(f"part{i}.bin", "wb") as f:
        for _ in range(99):
            f.write(b"y" * (1 << 20))
    print("file", i, flush=True)
"""


def test_a_total_disk_quota_stops_many_files_below_the_per_file_limit(tmp_path):
    r = run_program(_spec(tmp_path, WRITE_WORKDIR, disk_mb=200, memory_mb=512))
    assert r.killed_by == "disk", (r.killed_by, r.stdout, r.stderr[-500:])
    assert disk_usage(str(tmp_path / "work")) < 10 * 99 * MB


HOLD = """
import os, time, sys
pids = []
try:
    while True:
        pid = os.fork()
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        pids.append(pid)
except OSError:
    pass
print("HOLDING", len(pids), flush=True)
open("holding", "w").close()
time.sleep(40)
"""

SPAWN = """
import os
ok = 0
for _ in range(10):
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    ok += 1
print("SPAWNED", ok)
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="uids of their own need labcoat to run as root")
def test_one_programs_fork_storm_leaves_another_programs_processes_alone(tmp_path):
    holder = _spec(tmp_path, HOLD, name="holder", max_processes=32, timeout_s=45)
    other = _spec(tmp_path, SPAWN, name="other", max_processes=32, timeout_s=45)
    results = {}
    t = threading.Thread(target=lambda: results.setdefault("holder", run_program(holder)))
    t.start()
    deadline = time.monotonic() + 40
    while not (tmp_path / "holder" / "holding").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    results["other"] = run_program(other)
    t.join()
    assert "HOLDING" in results["holder"].stdout  # it did use up its own limit
    assert results["other"].stdout.split() == ["SPAWNED", "10"], results["other"].stderr[-800:]


USERNS = """
import ctypes, subprocess
libc = ctypes.CDLL(None, use_errno=True)
print("unshare", libc.unshare(0x10000000), ctypes.get_errno())
print("cli", subprocess.run(["unshare", "-U", "-r", "id", "-u"], capture_output=True, text=True).stdout.strip() or "refused")
"""


def test_no_user_namespace_can_be_made_inside(tmp_path):
    r = run_program(_spec(tmp_path, USERNS))
    assert r.ok, r.stderr[-500:]
    lines = dict(line.split(" ", 1) for line in r.stdout.splitlines())
    assert lines["unshare"] == "-1 1"  # EPERM
    assert lines["cli"] == "refused"
