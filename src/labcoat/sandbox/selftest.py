"""A real program through the sandbox, for `labcoat doctor`: does isolation hold on this machine?"""

from __future__ import annotations

import json
import os
import tempfile

from labcoat.sandbox.run import SandboxError, run_program
from labcoat.sandbox.spec import ProgramSpec

PROBE = """
import ctypes, json, os, socket
userns = "allowed" if ctypes.CDLL(None, use_errno=True).unshare(0x10000000) == 0 else "refused"
try:
    open('/usr/.labcoat-probe', 'w')
    usr = 'writable'
except OSError:
    usr = 'read-only'
print(json.dumps({"uid": os.getuid(), "ifaces": [n for _, n in socket.if_nameindex()], "usr": usr,
                  "userns": userns}))
"""


def self_test(python: str | None = None) -> tuple[bool, str]:
    """(isolated, what was seen). Isolated: bwrap, loopback only, read-only /usr, not root, no user namespaces."""
    with tempfile.TemporaryDirectory(prefix="labcoat-doctor-") as tmp:
        os.chmod(tmp, 0o755)
        spec = ProgramSpec(workdir=os.path.join(tmp, "probe"), code=PROBE, timeout_s=30, memory_mb=512)
        if python:
            spec.python = python
        try:
            result = run_program(spec)
        except SandboxError as exc:
            return False, str(exc)
    if result.exit_code != 0:
        return False, f"the probe program failed ({result.sandbox}): {result.stderr.strip()[-300:]}"
    seen = json.loads(result.stdout)
    isolated = (result.sandbox == "bwrap" and seen["ifaces"] == ["lo"] and seen["usr"] == "read-only"
                and seen["uid"] != 0 and seen["userns"] == "refused")
    detail = (f"{result.sandbox}: programs run as uid {seen['uid']}, network interfaces {seen['ifaces']}, "
              f"/usr {seen['usr']}, user namespaces {seen['userns']}, start-up {result.duration_s * 1000:.0f} ms")
    return isolated, detail
