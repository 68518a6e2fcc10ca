"""Who may reach a labcoat server: loopback names, tokens, Host headers.

Shared by the dashboard and the archive service, which follow one rule:
bound to loopback, the server is the user's own (and refuses foreign Host
names against DNS rebinding); bound anywhere else, every request needs the
token printed at start.
"""

from __future__ import annotations

import ipaddress
import secrets

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    return secrets.token_urlsafe(24)


def host_name(host_header: str) -> str:
    """'127.0.0.1:8766' -> '127.0.0.1'; '[::1]:8766' -> '::1'."""
    if host_header.startswith("["):
        return host_header[1:].split("]", 1)[0]
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header
