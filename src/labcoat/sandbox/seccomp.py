"""A seccomp filter that refuses new user namespaces inside the sandbox.

Inside a user namespace of its own a program holds every capability there,
which opens kernel code that is otherwise root-only (a long history of
escapes). bwrap's `--disable-userns` needs a user namespace of bwrap's own,
which labcoat does not make when it runs as root, so the same guarantee
comes from a classic BPF filter that bwrap loads (`--seccomp FD`):

- `unshare` and `clone` with CLONE_NEWUSER fail with EPERM;
- `clone3` fails with ENOSYS (its flags sit behind a pointer a filter
  cannot read; the C library then falls back to `clone`);
- system calls of another ABI (i386 or x32 on x86-64) fail with EPERM, so
  they cannot bypass the checks by number.

Everything else is allowed. Machines other than x86-64 and aarch64 get no
filter (`filter_bytes` returns None) and the caller says so.
"""

from __future__ import annotations

import errno
import os
import platform
import struct

CLONE_NEWUSER = 0x10000000
X32_BIT = 0x40000000

# machine -> (AUDIT_ARCH_*, unshare, clone, clone3)
SYSCALLS = {
    "x86_64": (0xC000003E, 272, 56, 435),
    "aarch64": (0xC00000B7, 97, 220, 435),
}

_LD_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_JSET = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_RET = 0x06  # BPF_RET | BPF_K
_ALLOW = 0x7FFF0000
_ERRNO = 0x00050000

# struct seccomp_data: nr at 0, arch at 4, args[0] at 16 (low word first on little-endian machines).
_NR, _ARCH, _ARG0_LOW = 0, 4, 16


def _op(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def filter_bytes(machine: str | None = None) -> bytes | None:
    """The compiled filter for `machine` (default: this one), or None where labcoat has no table."""
    found = SYSCALLS.get(machine or platform.machine())
    if found is None:
        return None
    arch, unshare, clone, clone3 = found
    deny = _ERRNO | errno.EPERM
    prog = [
        _op(_LD_ABS, _ARCH),
        _op(_JEQ, arch, 1, 0),
        _op(_RET, deny),  # a foreign ABI
        _op(_LD_ABS, _NR),
        _op(_JGE, X32_BIT, 0, 1),
        _op(_RET, deny),  # x32 numbers on x86-64
        _op(_JEQ, clone3, 0, 1),
        _op(_RET, _ERRNO | errno.ENOSYS),
        _op(_JEQ, unshare, 1, 0),
        _op(_JEQ, clone, 0, 3),
        _op(_LD_ABS, _ARG0_LOW),
        _op(_JSET, CLONE_NEWUSER, 0, 1),
        _op(_RET, deny),
        _op(_RET, _ALLOW),
    ]
    return b"".join(prog)


def filter_fd() -> int | None:
    """A readable fd holding the filter, positioned at its start (bwrap reads it once), or None."""
    data = filter_bytes()
    if data is None:
        return None
    fd = os.memfd_create("labcoat-seccomp", os.MFD_CLOEXEC)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
