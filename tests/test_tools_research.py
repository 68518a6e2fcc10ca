"""ResearchTools inside a run: memoised effects in a real run store, replay without network, pluggable sources, CLI."""

from __future__ import annotations

from labcoat.config.schema import ResearchConfig, ServicesConfig
from labcoat.workflow.context import EventLog, RunContext
from labcoat.run.services import attach_tools
from labcoat.store import Effects, RunStore
from labcoat.tools.research import LiteratureSource, ResearchTools
from tests.test_tools_arxiv import ArxivReplay, make_config
from tests.test_tools_fulltext import eprint_tar


def _calls(tools: ResearchTools) -> list:
    return [
        tools.search("lit#0/step/0/search", "testing", max_results=10),
        tools.full_text("lit#0/step/1/full_text", "1509.09292v1", section="Introduction", max_chars=3000),
        tools.search("lit#0/step/2/search", "broken", max_results=3),
        tools.lookup("lit#0/step/3/lookup", ["2104.12255v1"]),
    ]


def test_replay_serves_recorded_results_without_network(httpserver, fixtures_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_do_not_store_me")
    replay = ArxivReplay(httpserver, fixtures_dir)
    replay.overrides["broken"] = replay.feeds[("", "abc", "0", "100")]
    httpserver.expect_request("/e-print/1509.09292v1").respond_with_data(eprint_tar(fixtures_dir))
    run_dir = tmp_path / "run"

    with RunStore(run_dir) as store:
        tools = ResearchTools(make_config(httpserver), Effects(store), cache_dir=tmp_path / "cache1")
        first = _calls(tools)
        tools.close()
        error_row = store.get_effect("lit#0/step/2/search")
    assert first[0]["papers"] and "We introduce" not in first[1]["text"] and first[1]["section"] == "Introduction"
    assert first[2]["kind"] == "http" and "incorrect id format" in first[2]["error"]
    assert first[3]["papers"][0]["title"] == "0"
    assert error_row["kind"] == "tool" and "incorrect id format" in error_row["result"]  # errors are recorded
    served = len(httpserver.log)

    # Resume: a fresh process with an empty disk cache gets everything from the run store.
    with RunStore(run_dir) as store:
        effects = Effects(store)
        tools = ResearchTools(make_config(httpserver), effects, cache_dir=tmp_path / "cache2")
        second = _calls(tools)
        assert tools.paper("2104.12255v1")["title"] == "0"  # known from the replayed lookup
        tools.close()
        assert (effects.replayed, effects.executed) == (4, 0)
    assert second == first and len(httpserver.log) == served
    assert b"hf_do_not_store_me" not in (run_dir / "run.db").read_bytes()


class ShelfArchive:
    """A stand-in for another literature source (the archive) speaking the LiteratureSource protocol."""

    name = "archive"

    def __init__(self):
        self.paper = {"id": "archive:7", "version": None, "title": "Graph fingerprints revisited",
                      "authors": ["Lab One"], "abstract": "We revisit molecular fingerprints.",
                      "published": "2026-01-02", "updated": None, "categories": [], "primary_category": None,
                      "comment": None, "journal_ref": None, "doi": None, "url": "http://127.0.0.1/7",
                      "pdf_url": None, "source": "archive"}

    def search(self, query, *, max_results=5):
        return [self.paper] if "fingerprint" in query else []

    def full_text(self, paper_id):
        return {"paper_id": paper_id, "title": self.paper["title"],
                "text": "Abstract\nWe revisit molecular fingerprints.\n1 Introduction\nFingerprints matter."}

    def metadata(self, paper_id):
        return self.paper if paper_id == self.paper["id"] else None


def test_archive_plugs_in_and_all_survives_a_dead_arxiv(tmp_path):
    archive = ShelfArchive()
    assert isinstance(archive, LiteratureSource)
    dead = ServicesConfig(arxiv_api="http://127.0.0.1:9/api/query", arxiv_delay_s=0, connect_timeout_s=1)
    tools = ResearchTools(ResearchConfig(topic="t", services=dead), cache_dir=tmp_path,
                          sources={"archive": archive})
    result = tools.search(None, "molecular fingerprints", source="all")
    assert [p["id"] for p in result["papers"]] == ["archive:7"] and result["unavailable"] == ["arxiv"]
    text = tools.full_text(None, "archive:7", section="introduction")
    assert text["section"] == "1 Introduction" and text["text"] == "Fingerprints matter."
    assert "@misc{one2026graph," in tools.bibtex(tools.paper("archive:7"))
    nothing = tools.search(None, "unrelated", source="archive")
    assert nothing == {"papers": [], "source": "archive"}
    tools.close()


def test_attach_tools_puts_research_tools_on_the_context(tmp_path):
    store = RunStore(tmp_path / "run")
    config = ResearchConfig(topic="t", archive={"url": "http://127.0.0.1:9"})
    ctx = RunContext(config=config, store=store, run_id="r", run_dir=tmp_path / "run", effects=Effects(store),
                     events=EventLog(store))
    attach_tools(ctx)
    assert isinstance(ctx.tools, ResearchTools) and ctx.tools.effects is ctx.effects
    try:
        import labcoat.archive.client  # noqa: F401
    except ModuleNotFoundError:
        assert any("archive" in w for w in ctx.warnings)
    else:
        assert "archive" in ctx.tools.available_sources()
    ctx.tools.close()
    store.close()


def _cli(capsys, *args) -> tuple[int, str, str]:
    """Run `labcoat ARGS` in this process through the real entry point; (exit code, stdout, stderr)."""
    from labcoat.cli import main

    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_lit_commands(httpserver, fixtures_dir, tmp_path, monkeypatch, capsys):
    replay = ArxivReplay(httpserver, fixtures_dir)
    replay.overrides["broken"] = replay.feeds[("", "abc", "0", "100")]
    monkeypatch.setenv("LABCOAT_ARXIV_API", httpserver.url_for("/api/query"))
    monkeypatch.setenv("LABCOAT_CACHE_DIR", str(tmp_path / "cli-cache"))
    monkeypatch.setenv("COLUMNS", "200")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("topic: t\nservices:\n  arxiv_delay_s: 0\n", encoding="utf-8")
    code, out, err = _cli(capsys, "lit", "search", "testing", "--max", "10", "--config", str(cfg))
    assert code == 0 and "2204.08348v3" in out, err
    code, out, err = _cli(capsys, "lit", "search", "broken", "--config", str(cfg))
    assert code == 1 and "incorrect id format for abc" in err and "Traceback" not in err
    code, out, err = _cli(capsys, "lit", "bib", "2104.12255v1", "--config", str(cfg))
    assert code == 0 and out.startswith("@") and "title = {{0}}" in out, err
    code, out, err = _cli(capsys, "lit", "bib", "0000.0000", "--config", str(cfg))
    assert code == 1 and "not on arXiv: 0000.0000" in err
    pdf = str(fixtures_dir / "pdf" / "arxiv_1111.2011v2.pdf")
    code, out, err = _cli(capsys, "lit", "text", pdf, "--section", "discussion")
    assert code == 0 and "We have presented a self-consistent, analytical treatment" in out
    assert "In the limit of" not in out  # the abstract is another section
    junk = tmp_path / "junk.pdf"
    junk.write_bytes(b"\x00" * 100)
    code, out, err = _cli(capsys, "lit", "text", str(junk))
    assert code == 1 and "not a PDF" in err


class DownArchive(ShelfArchive):
    def search(self, query, *, max_results=5):
        from labcoat.errors import LabcoatError

        raise LabcoatError("archive answered 503")


def test_a_failing_source_does_not_sink_all_and_a_bad_cache_dir_is_a_config_error(httpserver, fixtures_dir,
                                                                                 tmp_path):
    import pytest

    from labcoat.errors import ConfigError

    ArxivReplay(httpserver, fixtures_dir)
    tools = ResearchTools(make_config(httpserver), cache_dir=tmp_path / "ok", sources={"archive": DownArchive()})
    result = tools.search(None, "testing", source="all", max_results=10)
    assert len(result["papers"]) == 10 and result["errors"] == ["archive: archive answered 503"]
    assert tools.search(None, "x", source="archive") == {"error": "archive answered 503", "kind": "source",
                                                         "source": "archive"}
    tools.close()
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    broken = ResearchTools(make_config(httpserver), cache_dir=blocker / "cache")
    with pytest.raises(ConfigError, match="LABCOAT_CACHE_DIR"):
        broken.search(None, "testing")


def test_the_real_archive_plugs_in_through_research_tools(tmp_path, monkeypatch):
    from labcoat.archive.service import create_app
    from labcoat.run.services import research_tools
    from tests.test_archive_live import LiveServer, publish_one

    with LiveServer(create_app(tmp_path / "archive")) as live:
        ids = [publish_one(live.url, i) for i in range(3)]
        dead = ServicesConfig(arxiv_api="http://127.0.0.1:9/api/query", arxiv_delay_s=0, connect_timeout_s=1)
        monkeypatch.setenv("LABCOAT_CACHE_DIR", str(tmp_path / "cache"))
        tools = research_tools(ResearchConfig(topic="t", services=dead, archive={"url": live.url}))
        found = tools.search(None, "grokking modular arithmetic weight decay", source="all", max_results=3)
        assert found["papers"][0]["id"] == ids[1] and found["unavailable"] == ["arxiv"]
        whole = tools.full_text(None, ids[1], max_chars=500)
        assert whole["sections"] == ["Abstract", "Introduction", "Grokking", "Conclusion"]
        assert whole["source"] == "archive" and whole["section"] is None
        part = tools.full_text(None, ids[1], section="Grokking")
        assert part["section"] == "Grokking" and "chance to perfect" in part["text"]
        assert tools.full_text(None, ids[1], section="Nowhere")["kind"] in ("not_found", "bad_input")
        entry = tools.bibtex(tools.paper(ids[1]))
        assert f"note = {{labcoat archive {live.url}/papers/000002}}" in entry and "eprint" not in entry
        tools.close()
