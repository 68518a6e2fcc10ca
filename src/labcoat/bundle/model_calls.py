"""Model calls made by sandboxed programs, as the bundle's replay log.

A program that calls a language model reaches it through labcoat's model
gateway, which records each call as an effect of kind `model_call` keyed
under the program's own effect key (`<exec key>/model/<n>`): the request is
the OpenAI chat-completions body the program sent, the result the response
body it got. The bundle keeps them per program in
`model_calls/<program>.jsonl`, one call a line:

    {"seq": 0, "request_sha256": "…", "request": {...}, "response": {...}}

`request_sha256` is the sha256 of the request in canonical JSON (sorted
keys, no spaces), the key the replay server answers by.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from labcoat.store.runstore import RunStore

KIND = "model_call"


def canonical(request: dict[str, Any]) -> str:
    return json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def request_sha256(request: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(request).encode("utf-8")).hexdigest()


def recorded_calls(store: RunStore, exec_key: str) -> list[dict[str, Any]]:
    """The model calls the program recorded as `exec_key` made, in the order it made them."""
    rows = store.db.execute("SELECT key, request, result FROM effects WHERE kind=? AND key LIKE ? ESCAPE '\\' "
                            "ORDER BY rowid", (KIND, _like_prefix(exec_key + "/")))
    calls = []
    for seq, row in enumerate(rows):
        request = json.loads(row["request"])
        body = request.get("body", request)
        calls.append({"seq": seq, "request_sha256": request_sha256(body), "request": body,
                      "response": json.loads(row["result"])})
    return calls


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def write_log(path: Path, calls: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for call in calls:
            f.write(json.dumps(call, sort_keys=True, ensure_ascii=False) + "\n")


def read_log(path: Path) -> list[dict[str, Any]]:
    calls = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            call = json.loads(line)
        except ValueError as exc:
            raise ValueError(f"{path.name} line {n} is not JSON: {exc}") from exc
        if not isinstance(call, dict) or "request" not in call or "response" not in call:
            raise ValueError(f"{path.name} line {n} lacks a request or a response")
        calls.append(call)
    return calls
