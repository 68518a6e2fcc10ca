"""Hugging Face dataset search, info and prefetch against a loopback Hub built from the recorded listing."""

from __future__ import annotations

import hashlib
import json
import re
import socket

import pytest
from werkzeug import Response

from labcoat.config.schema import ResearchConfig, ServicesConfig
from labcoat.tools.research import ResearchTools

SHA = "c9f4562ef4a6c84f0098f7845944a5472cb52cad"
FILES = {"README.md": b"---\nlicense: unknown\n---\n# Rotten Tomatoes\n",
         "data/train.csv": b"text,label\ngood film,1\nbad film,0\n"}


class FakeHub:
    """Answers /api/datasets like the Hub, from the recorded `full=True` listing (same item schema)."""

    def __init__(self, httpserver, fixtures_dir):
        self.items = json.loads((fixtures_dir / "hf_api" / "aiod_hf_api_datasets_full_true_list.json")
                                .read_text(encoding="utf-8"))
        self.requests: list[str] = []
        httpserver.expect_request(re.compile(r"^/api/datasets.*")).respond_with_handler(self.api)
        httpserver.expect_request(re.compile(r"^/datasets/.+/resolve/.*")).respond_with_handler(self.resolve)

    def api(self, request) -> Response:
        self.requests.append(request.full_path)
        path = request.path[len("/api/datasets"):].strip("/")
        if not path:
            return self.listing(request)
        if "/tree/" in path:
            return Response(json.dumps([{"type": "file", "path": name, "size": len(data),
                                         "oid": hashlib.sha1(data).hexdigest()} for name, data in FILES.items()]),
                            content_type="application/json")
        repo = re.sub(r"/revision/.*$", "", path)
        found = [i for i in self.items if i["id"] == repo]
        if not found:
            return Response(json.dumps({"error": "Repository not found"}), status=404,
                            headers={"X-Error-Code": "RepoNotFound"}, content_type="application/json")
        item = dict(found[0])
        if repo == "rotten_tomatoes":
            item["sha"] = SHA
            item["siblings"] = [{"rfilename": name, "size": len(data)} for name, data in FILES.items()]
        return Response(json.dumps(item), content_type="application/json")

    def listing(self, request) -> Response:
        items = self.items
        for text in request.args.getlist("search"):
            items = [i for i in items if text.lower() in i["id"].lower()]
        for tag in request.args.getlist("filter"):
            items = [i for i in items if tag in i["tags"]]
        sort = request.args.get("sort")
        if sort in ("downloads", "likes"):
            items = sorted(items, key=lambda i: i[sort], reverse=True)
        limit = int(request.args.get("limit") or len(items))
        return Response(json.dumps(items[:limit]), content_type="application/json")

    def resolve(self, request) -> Response:
        self.requests.append(request.full_path)
        name = request.path.split("/resolve/", 1)[1].split("/", 1)[1]
        data = FILES.get(name)
        if data is None:
            return Response("not found", status=404, headers={"X-Error-Code": "EntryNotFound"})
        etag = hashlib.sha1(data).hexdigest()
        headers = {"ETag": f'"{etag}"', "X-Repo-Commit": SHA, "Content-Length": str(len(data))}
        # werkzeug drops the body of a HEAD answer itself and keeps its length.
        return Response(data, headers=headers)


@pytest.fixture
def hub(httpserver, fixtures_dir):
    return FakeHub(httpserver, fixtures_dir)


@pytest.fixture
def tools(httpserver, tmp_path, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    services = ServicesConfig(hf_endpoint=httpserver.url_for("/").rstrip("/"), connect_timeout_s=2, read_timeout_s=5)
    t = ResearchTools(ResearchConfig(topic="t", services=services), cache_dir=tmp_path / "cache")
    yield t
    t.close()


def test_search_by_text_sorted_by_downloads(tools, hub):
    result = tools.hf_search(None, "o", limit=3)
    ids = [d["id"] for d in result["datasets"]]
    expected = sorted((i for i in hub.items if "o" in i["id"]), key=lambda i: i["downloads"], reverse=True)
    assert ids == [i["id"] for i in expected[:3]]
    top = result["datasets"][0]
    assert top["id"] == "rotten_tomatoes" and top["downloads"] == 65361 and top["likes"] == 28
    assert "language:en" in top["tags"] and top["description"]
    sent = [r for r in hub.requests if r.startswith("/api/datasets?")][0]
    assert "search=o" in sent and "sort=downloads" in sent and "limit=3" in sent


def test_search_with_filters_and_likes(tools, hub):
    result = tools.hf_search(None, "", filters=["task_ids:sentiment-classification"], sort="likes")
    assert [d["id"] for d in result["datasets"]] == ["rotten_tomatoes"]
    assert tools.hf_search(None, "no-such-thing-anywhere")["datasets"] == []
    assert tools.hf_search(None, "x", sort="stars")["kind"] == "bad_input"


def test_info_has_splits_sizes_and_features(tools, hub):
    info = tools.hf_info(None, "rotten_tomatoes")
    cfg = info["configs"][0]
    assert cfg["splits"] == {"train": {"rows": 8530, "bytes": 1074810},
                             "validation": {"rows": 1066, "bytes": 134679},
                             "test": {"rows": 1066, "bytes": 135972}}
    assert cfg["features"] == {"text": "string", "label": {"class_label": ["neg", "pos"]}}
    assert cfg["download_size"] == 487770 and cfg["dataset_size"] == 1345461
    assert {f["name"] for f in info["files"]} == set(FILES)
    missing = tools.hf_info(None, "nobody/nothing")
    assert missing["kind"] == "not_found" and "nobody/nothing" in missing["error"]


def test_prefetch_downloads_for_offline_use(tools, hub, tmp_path):
    dest = tmp_path / "datasets" / "rotten_tomatoes"
    result = tools.prefetch(None, "rotten_tomatoes", str(dest))
    assert "error" not in result, result
    assert sorted(result["files"]) == sorted(FILES)
    assert (dest / "data" / "train.csv").read_bytes() == FILES["data/train.csv"]
    assert tools.prefetch(None, "nobody/nothing", str(tmp_path / "x"))["kind"] == "not_found"


def test_dead_hub_fails_fast(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    services = ServicesConfig(hf_endpoint=f"http://127.0.0.1:{port}", connect_timeout_s=1)
    tools = ResearchTools(ResearchConfig(topic="t", services=services), cache_dir=tmp_path)
    import time

    started = time.monotonic()
    assert tools.hf_search(None, "mnist")["kind"] == "unreachable"
    assert tools.hf_info(None, "mnist")["kind"] == "unreachable"
    assert time.monotonic() - started < 5


def test_cli_data_commands(httpserver, hub, tmp_path, monkeypatch, capsys):
    from tests.test_tools_research import _cli

    monkeypatch.setenv("HF_ENDPOINT", httpserver.url_for("/").rstrip("/"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("LABCOAT_CACHE_DIR", str(tmp_path / "cache"))
    code, out, err = _cli(capsys, "data", "search", "tomato", "--filter", "language:en")
    assert code == 0 and "rotten_tomatoes" in out and "downloads 65361" in out, err
    code, out, err = _cli(capsys, "data", "info", "rotten_tomatoes")
    assert code == 0 and "train: 8530 rows" in out and "class_label" in out, err
    code, out, err = _cli(capsys, "data", "info", "nobody/nothing")
    assert code == 1 and "not_found" in err and "no such dataset" in err


def test_prefetch_replays_only_while_the_files_are_there(httpserver, hub, tmp_path, monkeypatch):
    import shutil

    from labcoat.store import Effects, RunStore

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    services = ServicesConfig(hf_endpoint=httpserver.url_for("/").rstrip("/"), connect_timeout_s=2)
    dest = tmp_path / "run" / "datasets" / "rotten_tomatoes"

    def prefetch() -> tuple[dict, Effects]:
        with RunStore(tmp_path / "run") as store:
            effects = Effects(store)
            tools = ResearchTools(ResearchConfig(topic="t", services=services), effects, cache_dir=tmp_path / "c")
            result = tools.prefetch("data_preparation#0/prefetch/0", "rotten_tomatoes", str(dest))
            tools.close()
            return result, effects

    first, _ = prefetch()
    downloads = sum("/resolve/" in r for r in hub.requests)
    again, effects = prefetch()
    assert again == first and effects.replayed == 1
    assert sum("/resolve/" in r for r in hub.requests) == downloads
    shutil.rmtree(dest)
    third, effects = prefetch()
    assert effects.executed == 1 and (dest / "data" / "train.csv").is_file()
    assert sum("/resolve/" in r for r in hub.requests) > downloads
