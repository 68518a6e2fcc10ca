"""Model access for a sandboxed program: the gateway's socket, its helpers and its variables.

A program allowed models (`ProgramSpec.gateway`) sees the gateway's Unix
socket at /run/labcoat/gateway.sock and labcoat's stdlib-only helpers
(`labcoat_lab`, the forwarder) read-only at /run/labcoat/lib, on its
PYTHONPATH. It starts through the forwarder, which gives it
OPENAI_BASE_URL/ANTHROPIC_BASE_URL on the sandbox's own loopback; its
OPENAI_API_KEY and ANTHROPIC_API_KEY hold its gateway token, never a
provider key. When the gateway is on another machine (a Ray worker), a
`Relay` in the worker serves a local socket that forwards to it over TCP.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from labcoat.sandbox.spec import ProgramSpec

RUN_DIR = "/run/labcoat"
SOCKET_IN = f"{RUN_DIR}/gateway.sock"
LIB_IN = f"{RUN_DIR}/lib"
# The helpers ship inside labcoat; found by path, so this layer imports nothing above it.
LIB = Path(__file__).resolve().parents[1] / "gateway" / "inside"


@contextmanager
def gateway_socket(spec: ProgramSpec) -> Iterator[str | None]:
    """The host path of a socket reaching the gateway while the program runs (None: no model access)."""
    access = spec.gateway
    if not access:
        yield None
        return
    if access.get("socket") and os.path.exists(access["socket"]):
        yield access["socket"]
        return
    if not access.get("tcp"):
        from labcoat.sandbox.run import SandboxError

        raise SandboxError(f"the model gateway's socket {access.get('socket')} is not on this machine and no "
                           "TCP address was given for a relay")
    from labcoat.sandbox.relay import Relay

    with Relay(access["tcp"]) as relay:
        yield relay.path


def bwrap_binds(host_socket: str | None) -> list[str]:
    if host_socket is None:
        return []
    return ["--perms", "0755", "--dir", RUN_DIR, "--bind", host_socket, SOCKET_IN, "--ro-bind", str(LIB), LIB_IN]


def env_for(spec: ProgramSpec, host_socket: str | None, mode: str) -> dict[str, str]:
    if host_socket is None or not spec.gateway:
        return {}
    lib = LIB_IN if mode == "bwrap" else str(LIB)
    token = spec.gateway["token"]
    return {"LABCOAT_GATEWAY_SOCKET": SOCKET_IN if mode == "bwrap" else host_socket,
            "LABCOAT_GATEWAY_TOKEN": token, "OPENAI_API_KEY": token, "ANTHROPIC_API_KEY": token,
            "LABCOAT_LAB_MODEL": spec.gateway.get("model") or "", "PYTHONPATH": lib}


def launcher(host_socket: str | None, mode: str) -> list[str]:
    """Arguments put between the interpreter and the program: the forwarder, when there is model access."""
    if host_socket is None:
        return []
    return [f"{LIB_IN if mode == 'bwrap' else LIB}/labcoat_forward.py"]
