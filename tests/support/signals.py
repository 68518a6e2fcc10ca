"""Children that get Ctrl-C as a terminal user's process would.

A shell without job control starts background commands with SIGINT ignored,
and an ignored signal stays ignored across exec: a test suite started that way
would hand its children a Ctrl-C that does nothing. Tests that send SIGINT
start their child with the default disposition instead.
"""

from __future__ import annotations

import signal


def default_sigint() -> None:
    """`preexec_fn` for a child that must receive Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
