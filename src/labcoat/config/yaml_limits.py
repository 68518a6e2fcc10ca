"""Reading a config file within limits: a regular file, at most `MAX_BYTES`, aliases that stay small.

A YAML alias bomb (anchors of anchors, each used ten times) is a few
hundred bytes that expand to billions of values: the parser shares the
nodes, but anything that walks the result (the secret scan, validation)
walks every copy. So the composed document's size is counted with each
alias expanded, without expanding it, before anything is built from it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from labcoat.errors import ConfigError
from labcoat.untrusted import UntrustedFileError, read_bytes

MAX_BYTES = 1024 * 1024
MAX_VALUES = 100_000  # scalars, lists and mappings, with aliases expanded
MAX_ALIASES = 1000


def read_config_text(path: Path) -> str:
    """The file's text; a FIFO, a device, a directory or a huge file is a one-line ConfigError."""
    source = str(path)
    try:
        # A config reached through a link is fine (dotfiles): only what it finally is matters.
        data = read_bytes(os.path.realpath(path), MAX_BYTES)
    except UntrustedFileError as exc:
        raise ConfigError(str(exc).replace(os.path.realpath(path), "the config"), source=source) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the file: {exc.strerror or exc}", source=source) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"cannot read the file: {exc}", source=source) from None


def safe_load_bounded(text: str, source: str) -> Any:
    """`yaml.safe_load`, refusing documents whose aliases expand past MAX_VALUES values."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_size(node, source)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _check_size(root: yaml.Node, source: str) -> None:
    sizes: dict[int, int] = {}
    uses: dict[int, int] = {}

    def size(node: yaml.Node, active: frozenset[int]) -> int:
        key = id(node)
        uses[key] = uses.get(key, 0) + 1
        if sum(n - 1 for n in uses.values()) > MAX_ALIASES:
            raise ConfigError(f"more than {MAX_ALIASES} YAML aliases (*name); write the values out", source=source)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise ConfigError("a YAML anchor refers to itself (a recursive structure)", source=source)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child, active | {key}) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k, active | {key}) + size(v, active | {key}) for k, v in node.value)
        sizes[key] = total
        if total > MAX_VALUES:
            raise ConfigError(f"the YAML expands to more than {MAX_VALUES} values (through aliases: *name); "
                              "a research config is far smaller", source=source)
        return total

    size(root, frozenset())
