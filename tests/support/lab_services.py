"""Loopback services for end-to-end runs (tests only): arXiv replaying recorded
feeds, a ScriptedProvider, and a config pointing labcoat at both.

`LabScript` turns a table of per-phase policies into one provider policy: each
request is routed by the phase and role its system prompt names, and the
step number the lab's prompt states.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from werkzeug import Response

from labcoat.config.loading import config_from_mapping
from labcoat.config.schema import ResearchConfig

from tests.support.scripted_provider import OPENAI_WIRE_PRESETS, ScriptedProvider, ScriptedRequest

ROLE_TITLES = {"PhD student": "phd", "Postdoc": "postdoc", "ML engineer": "ml_engineer",
               "software engineer": "sw_engineer", "Professor": "professor", "reviewer": "reviewer"}
PHASE_LINE = re.compile(r"# Your task in this phase \(([^)]+)\)")
ROLE_LINE = re.compile(r"You are the ([\w ]+?) in a research lab")
STEP_LINE = re.compile(r"Step (\d+) of (\d+)")
RESULT_ID = re.compile(r"- id (\S+) \|")


def recorded_feeds(fixtures_dir: Path) -> dict[tuple, tuple[int, bytes]]:
    """(search_query, id_list, start, max_results) -> (status, body bytes) from the recorded JSON files."""
    feeds: dict[tuple, tuple[int, bytes]] = {}
    for path in sorted((fixtures_dir / "arxiv_api").glob("arxivpy_*.json")):
        rec = json.loads(path.read_text(encoding="utf-8"))
        q = parse_qs(urlsplit(rec["url"]).query, keep_blank_values=True)
        key = (q["search_query"][0], q["id_list"][0], q["start"][0], q["max_results"][0])
        feeds[key] = (rec["status_code"], rec["body"].encode("latin-1"))  # bytes were stored as latin-1 text
    return feeds


ATOM = "{http://www.w3.org/2005/Atom}"
OPENSEARCH = "{http://a9.com/-/spec/opensearch/1.1/}"


def id_list_feed(feeds: dict[tuple, tuple[int, bytes]], ids: list[str]) -> bytes:
    """What arXiv answers an id_list query with: the entries of those ids (from every recorded feed), in the
    order asked; an id it does not know adds nothing, so unknown ids give an empty feed (as recorded)."""
    from lxml import etree

    entries: dict[str, Any] = {}
    for status, body in feeds.values():
        if status != 200:
            continue
        for entry in etree.fromstring(body).iter(f"{ATOM}entry"):
            versioned = entry.findtext(f"{ATOM}id", "").rsplit("/abs/", 1)[-1]
            entries.setdefault(versioned, entry)
            entries.setdefault(re.sub(r"v\d+$", "", versioned), entry)
    feed = etree.fromstring(feeds[("", "0000.0000", "0", "100")][1])  # arXiv's real answer to an unknown id
    found = [entries[i] for i in ids if i in entries]
    for entry in found:
        feed.append(entry)
    feed.find(f"{OPENSEARCH}totalResults").text = str(len(found))
    return etree.tostring(feed, xml_declaration=True, encoding="UTF-8")


def recorded_arxiv(fixtures_dir: Path, httpserver) -> list[dict]:
    """Serve arXiv's API from the recorded feeds: an exact recording when there is one; for
    an id list, the recorded entries of those ids (`id_list_feed`); for another search, the
    recorded 'testing' feed (a real Atom response)."""
    feeds = recorded_feeds(fixtures_dir)
    fallback = feeds[("testing", "", "0", "10")]
    seen: list[dict] = []

    def handle(request) -> Response:
        args = {k: request.args.get(k, "") for k in ("search_query", "id_list", "start", "max_results")}
        seen.append(args)
        key = tuple(args.values())
        if key in feeds:
            status, body = feeds[key]
        elif args["id_list"]:
            status, body = 200, id_list_feed(feeds, [i for i in args["id_list"].split(",") if i])
        else:
            status, body = fallback
        return Response(body, status=status, content_type="application/atom+xml; charset=utf-8")

    httpserver.expect_request("/api/query").respond_with_handler(handle)
    return seen


def lab_config(sp: ScriptedProvider, httpserver, **sections: Any) -> ResearchConfig:
    """A config for a real run against loopback services; `sections` override."""
    urls = {name: sp.base_url_openai for name in OPENAI_WIRE_PRESETS}
    urls["anthropic"] = sp.base_url_anthropic
    data: dict[str, Any] = {
        "topic": "Does standardising features change the ranking of classifiers on small tabular data sets?",
        "models": {"default": "openai:gpt-4o-mini", "retries": 2},
        "services": {"provider_base_urls": urls, "arxiv_api": httpserver.url_for("/api/query"),
                     "arxiv_pdf": httpserver.url_for("/pdf"), "arxiv_eprint": httpserver.url_for("/e-print"),
                     "hf_endpoint": httpserver.url_for("/").rstrip("/"), "arxiv_delay_s": 0,
                     "connect_timeout_s": 2, "read_timeout_s": 10},
        "sandbox": {"timeout_s": 120, "memory_mb": 2048},
    }
    for name, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(name), dict):
            data[name] = {**data[name], **value}
        else:
            data[name] = value
    return config_from_mapping(data, source="lab_config", env={})


def who(request: ScriptedRequest) -> tuple[str, str, int]:
    """(phase, role, step) of a request, read from the prompts labcoat sent."""
    phase = PHASE_LINE.search(request.system)
    role = ROLE_LINE.search(request.system)
    steps = STEP_LINE.findall(request.last_user)
    return ((phase.group(1).replace(" ", "_") if phase else ""),
            ROLE_TITLES.get(role.group(1), role.group(1)) if role else "",
            int(steps[-1][0]) if steps else 0)


DIGEST_IDS = re.compile(r"search '.*?' → (.+)")


def retrieved_ids(request: ScriptedRequest) -> list[str]:
    """Paper ids the agent has seen: in full search results, or in the digest of older turns."""
    text = "\n".join(m["content"] for m in request.messages)
    ids = [i.strip() for line in DIGEST_IDS.findall(text) for i in line.split(",")]
    return list(dict.fromkeys(ids + RESULT_ID.findall(text)))


class LabScript:
    """Routes requests to `policies[phase](request, role, step)`; records who asked what."""

    def __init__(self, policies: dict[str, Callable[[ScriptedRequest, str, int], Any]]):
        self.policies = policies
        self.calls: list[tuple[str, str, int]] = []
        self.lock = threading.Lock()

    def __call__(self, request: ScriptedRequest) -> Any:
        phase, role, step = who(request)
        with self.lock:
            self.calls.append((phase, role, step))
        if phase not in self.policies:
            raise AssertionError(f"no scripted policy for phase {phase!r} (role {role}, step {step})")
        return self.policies[phase](request, role, step)
