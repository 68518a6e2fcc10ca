"""The literature review narrows what a model may name: it offers reading and adding
only once there are papers to read and add, and in JSON mode (grammar-constrained
local models) the paper ids are an enum of the papers actually retrieved."""

from __future__ import annotations

import json

import pytest

from labcoat.agents.commands import AddPaper, FullText, Search
from labcoat.llm.commands import CommandSet, ReplyError
from labcoat.phases import default_workflow
from labcoat.phases.literature_review import topic_query
from labcoat.run.runner import create_run, execute
from labcoat.run.services import attach
from labcoat.store import open_store

from tests.support.lab_policies import reply_command
from tests.support.lab_services import LabScript, lab_config, recorded_arxiv
from tests.support.scripted_provider import TEST_KEY, ScriptedProvider


def test_choices_become_an_enum_in_json_mode_and_a_reask_on_any_other_value():
    cmds = CommandSet([Search, FullText, AddPaper], {"add_paper.paper_id": ["2101.00001v1", "lib:demsar2006"]})
    variants = cmds.json_schema()["properties"]["reply"]["anyOf"]
    add = next(v for v in variants if v["properties"]["command"].get("const") == "add_paper"
               or v["properties"]["command"].get("enum") == ["add_paper"])
    assert add["properties"]["paper_id"]["enum"] == ["2101.00001v1", "lib:demsar2006"]
    full = next(v for v in variants if "section" in v["properties"])
    assert "enum" not in full["properties"]["paper_id"]          # no choices given for full_text
    ok = cmds.parse({"text": json.dumps({"reply": {"command": "add_paper", "paper_id": "lib:demsar2006",
                                                   "summary": "s"}})}, "json")
    assert ok.paper_id == "lib:demsar2006"
    with pytest.raises(ReplyError) as err:
        cmds.parse({"text": json.dumps({"command": "add_paper", "paper_id": "9a842653", "summary": "s"})}, "json")
    assert err.value.kind == "not_a_choice" and "2101.00001v1, lib:demsar2006" in err.value.feedback
    # Tools mode keeps the tool list stable (a cached prompt prefix): no enum there.
    assert "enum" not in json.dumps(cmds.tools()[2]["parameters"]["properties"]["paper_id"])
    with pytest.raises(ValueError, match="empty"):
        CommandSet([AddPaper], {"add_paper.paper_id": []})
    with pytest.raises(ValueError, match="no such command field"):
        CommandSet([AddPaper], {"add_paper.title": ["x"]})


def test_topic_query_keeps_the_content_words():
    q = topic_query("Does standardising features change the ranking of three classifiers (logistic regression, "
                    "an RBF support vector machine and a random forest)?")
    assert q == "standardising features change ranking classifiers logistic regression RBF support vector"


def test_a_json_mode_model_starts_from_the_labs_search_and_can_only_name_retrieved_papers(
        tmp_path, httpserver, fixtures_dir, monkeypatch):
    monkeypatch.setenv("OLLAMA_API_KEY", TEST_KEY)
    monkeypatch.setenv("LABCOAT_CACHE_DIR", str(tmp_path / "cache"))
    seen_arxiv = recorded_arxiv(fixtures_dir, httpserver)
    offered: list[tuple[int, list[str], list[str]]] = []

    def phd(request, role, step):
        variants = request.schema["properties"]["reply"]["anyOf"] if "reply" in request.schema["properties"] \
            else [request.schema]
        enum = next((v["properties"]["paper_id"].get("enum", []) for v in variants
                     if "summary" in v["properties"]), [])
        offered.append((step, request.command_names, enum))
        if step == 1:  # an invented id: re-asked with the allowed ones, then a real one
            if "not_a_choice" not in json.dumps(request.messages) and "must be one of" not in request.last_user:
                return reply_command("add_paper", paper_id="9a842653-b1d0", summary="invented")
        return reply_command("add_paper", paper_id=enum[0], summary=f"Relevant study {step}.")

    with ScriptedProvider(LabScript({"literature_review": phd})) as sp:
        config = lab_config(sp, httpserver, phases=["literature_review"],
                            models={"default": "ollama:qwen2.5:7b", "retries": 2},
                            budget={"lit_review_papers": 2, "phase_steps": {"literature_review": 4}})
        run_dir = create_run(config, tmp_path / "run")
        execute(run_dir, default_workflow, attach=attach)
    with open_store(run_dir, readonly=True) as store:
        assert store.info().state == "finished", store.info().message
        feedback = [e["payload"] for e in store.events(kinds=["lab_feedback"])]
        errors = [e["payload"] for e in store.events(kinds=["llm_reply_error"])]
        review = store.artefact("literature_review")["data"]
    # The lab searched the topic's words before the PhD's first step, and said so.
    assert feedback[0]["step"] == 0 and feedback[0]["tool"] == "search" and feedback[0]["found"] > 0
    assert feedback[0]["text"].startswith(
        "The lab searched the topic first: search results for 'standardising features change ranking")
    assert any(q["search_query"] == topic_query(config.topic) for q in seen_arxiv)
    first_ids = feedback[0]["ids"]
    step1 = [o for o in offered if o[0] == 1]
    assert step1[0][1] == ["search", "full_text", "add_paper"] and sorted(step1[0][2]) == sorted(first_ids)
    assert [e["kind"] for e in errors] == ["not_a_choice"]
    assert len(review["papers"]) == 2 and {p["id"] for p in review["papers"]} <= set(first_ids)
    # Once added, a paper is no longer offered for adding.
    last = [o for o in offered if o[0] == 2][-1]
    assert review["papers"][0]["id"] not in last[2]
