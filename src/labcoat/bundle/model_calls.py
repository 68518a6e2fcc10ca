"""Model calls made by sandboxed programs, as the bundle's replay log.

A program that calls a language model reaches it through labcoat's model
gateway, which records each call as an effect of kind `gateway` keyed under
the program's own effect key (`<exec key>/model/<request hash>/<n>`): the
request is the chat-completions body the program sent (as the gateway
normalised it), the result the answer it got. The bundle keeps them per
program in `model_calls/<program>.jsonl`, one call a line:

    {"seq": 0, "request_sha256": "…", "request": {...}, "response": {...}}

`request_sha256` is the store's request hash (sha256 of canonical JSON), the
key the replay answers by; identical requests are answered in their order.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from labcoat.store.effects import request_hash
from labcoat.store.runstore import RunStore

def recorded_calls(store: RunStore, exec_key: str) -> list[dict[str, Any]]:
    """The model calls the program recorded as `exec_key` made, in the order they were answered."""
    from labcoat.gateway.calls import calls_made

    return [{"seq": seq, "request_sha256": request_hash(call["request"]), "request": call["request"],
             "response": call["response"]} for seq, call in enumerate(calls_made(store, exec_key))]


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
