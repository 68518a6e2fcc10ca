"""The one reply parser: wire schemas and the exact errors a malformed reply gets back."""

from __future__ import annotations

import json
from typing import Literal

import pytest

from labcoat.agents.commands import AddPaper, RunCode, Search, SubmitCode, SubmitPlan
from labcoat.llm.commands import Command, CommandSet, ReplyError, fenced, fenced_blocks
from labcoat.solvers.mle.commands import Assess, Edit
from tests.support.scripted_wire import _strict_problem


class TwoBodies(Command):
    """Write a section and its figure code."""

    command: Literal["section"] = "section"
    title: str
    latex: str = fenced("latex")
    plot: str = fenced("python")


def tool(name, arguments, text=""):
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"text": text, "tool_calls": [{"name": name, "arguments": args}], "finish_reason": "tool_calls"}


def error_of(cs: CommandSet, raw: dict, mode: str = "tools") -> ReplyError:
    with pytest.raises(ReplyError) as info:
        cs.parse(raw, mode)
    return info.value


ALL = CommandSet([Search, AddPaper, SubmitPlan, RunCode, SubmitCode, Edit, Assess])


def test_tool_schemas_are_strict_and_leave_bodies_out():
    for spec in ALL.tools():
        assert _strict_problem(spec["parameters"]) is None, spec["name"]
        assert "command" not in spec["parameters"]["properties"]
    by_name = {t["name"]: t["parameters"] for t in ALL.tools()}
    assert set(by_name["run_code"]["properties"]) == set()
    assert set(by_name["submit_code"]["properties"]) == {"data_source", "data_version", "subsampling"}
    assert set(by_name["edit"]["properties"]) == {"start", "end"}
    # nested models ($defs) are strict too, and fields with defaults are still required
    assert by_name["plan"]["$defs"]["DatasetSpec"]["additionalProperties"] is False
    assert "source" in by_name["search"]["required"]


def test_json_schema_is_strict_and_carries_bodies():
    schema = ALL.json_schema()
    assert _strict_problem(schema) is None
    variants = schema["properties"]["reply"]["anyOf"]
    run_code = next(v for v in variants if v["properties"]["command"]["const"] == "run_code")
    assert "code" in run_code["required"]
    single = CommandSet([Assess]).json_schema()
    assert single["properties"]["command"]["const"] == "assess" and _strict_problem(single) is None
    verdict = single["$defs"]["Verdict"]
    assert {"type": "null"} in verdict["properties"]["score"]["anyOf"]  # a failed attempt gets no score


def test_tool_call_with_fenced_body_parses():
    text = "I will run this.\n```python\nimport numpy as np\nprint(np.arange(3))\n```\n"
    cmd = ALL.parse(tool("run_code", {}, text), "tools")
    assert isinstance(cmd, RunCode) and cmd.code == "import numpy as np\nprint(np.arange(3))"
    cmd = ALL.parse(tool("edit", {"start": 3, "end": 4}, "```python\nx = 1\ny = 2\n```"), "tools")
    assert (cmd.start, cmd.end, cmd.new_lines) == (3, 4, "x = 1\ny = 2")


def test_the_matching_language_and_last_block_win():
    text = "Old:\n```python\nold()\n```\nOutput:\n```text\nboom\n```\nNew:\n```python\nnew()\n```"
    assert ALL.parse(tool("run_code", {}, text), "tools").code == "new()"
    two = CommandSet([TwoBodies]).parse(tool("section", {"title": "R"}, "```latex\n\\section{R}\n```\n"
                                                                         "```python\nplot()\n```"), "tools")
    assert (two.latex, two.plot) == ("\\section{R}", "plot()")


def test_unknown_command():
    err = error_of(ALL, tool("delete_everything", {}))
    assert err.kind == "unknown_command"
    assert '"delete_everything"' in err.feedback and "search" in err.feedback and "run_code" in err.feedback


def test_missing_field():
    err = error_of(ALL, tool("add_paper", {"paper_id": "2401.00001"}))
    assert err.kind == "missing_field"
    assert "missing field `summary`" in err.feedback and "`add_paper`" in err.feedback


def test_wrong_type_names_field_and_value():
    err = error_of(ALL, tool("assess", {"verdicts": [{"attempt": "s1c0", "score": "very good", "rationale": "fine",
                                                       "lesson": "l"}]}))
    assert err.kind == "wrong_type"
    assert "field `verdicts.0.score`" in err.feedback and '"very good"' in err.feedback and "number" in err.feedback
    nested = error_of(ALL, tool("plan", {"question": "q", "hypotheses": "not a list", "datasets": [], "method": "m",
                                         "baselines": [], "metrics": [], "protocol": "p", "figures": [],
                                         "compute_budget": "1h"}))
    assert "field `hypotheses`" in nested.feedback


def test_extra_field_is_named():
    err = error_of(ALL, tool("search", {"query": "x", "source": "all", "limit": 5}))
    assert err.kind == "extra_field" and "unknown field `limit`" in err.feedback


def test_truncated_reply_has_its_own_message():
    for reason in ("length", "max_tokens"):
        raw = tool("search", '{"query": "graph neur', "")
        raw["finish_reason"] = reason
        err = error_of(ALL, raw)
        assert err.kind == "truncated" and "cut off" in err.feedback


def test_missing_fenced_block():
    err = error_of(ALL, tool("run_code", {}, "Let me run the program now."))
    assert err.kind == "missing_fence" and "```python" in err.feedback and "`code`" in err.feedback


def test_no_command_and_several_commands():
    assert error_of(ALL, {"text": "I think we should search.", "tool_calls": []}).kind == "no_command"
    raw = {"text": "", "tool_calls": [{"name": "search", "arguments": '{"query":"a","source":"all"}'},
                                      {"name": "search", "arguments": '{"query":"b","source":"all"}'}]}
    err = error_of(ALL, raw)
    assert err.kind == "several_commands" and "2" in err.feedback


def test_invalid_tool_arguments():
    err = error_of(ALL, tool("search", '{"query": "x",'))
    assert err.kind == "invalid_json" and "`search`" in err.feedback


def test_json_mode_documents():
    doc = {"reply": {"command": "run_code", "code": "print(1)"}}
    assert ALL.parse({"text": json.dumps(doc)}, "json").code == "print(1)"
    # a bare command object, a fenced json block, and text around it are accepted
    assert ALL.parse({"text": '```json\n{"command": "search", "query": "q", "source": "all"}\n```'}, "json").query == "q"
    assert ALL.parse({"text": 'Sure: {"command": "search", "query": "q2", "source": "arxiv"}'}, "json").query == "q2"
    # a single-command set needs no `command`
    one = '{"verdicts": [{"attempt": "s1c0", "score": %s, "rationale": "ok", "lesson": "l"}]}'
    assert CommandSet([Assess]).parse({"text": one % "0.5"}, "json").verdicts[0].score == 0.5
    assert CommandSet([Assess]).parse({"text": one % "null"}, "json").verdicts[0].score is None
    # the body may travel beside the JSON as a block of its own
    text = '```json\n{"command": "run_code"}\n```\n```python\nprint(2)\n```'
    assert ALL.parse({"text": text}, "json").code == "print(2)"


def test_json_mode_errors():
    assert error_of(ALL, {"text": '{"command": "search", "query": '}, "json").kind == "invalid_json"
    assert error_of(ALL, {"text": ""}, "json").kind == "no_command"
    assert error_of(ALL, {"text": '{"query": "x"}'}, "json").kind == "missing_field"
    assert error_of(ALL, {"text": '{"command": "nope"}'}, "json").kind == "unknown_command"
    assert error_of(ALL, {"text": "[1, 2]"}, "json").kind == "invalid_json"


def test_instructions_name_the_commands_and_the_fences():
    text = ALL.instructions("tools")
    assert "`run_code`" in text and "```python" in text
    assert "JSON" in ALL.instructions("json")


def test_fenced_blocks_handles_longer_fences():
    text = "````markdown\n```python\ninner\n```\n````\n~~~latex\n\\x\n~~~"
    assert fenced_blocks(text) == [("markdown", "```python\ninner\n```"), ("latex", "\\x")]


def test_command_classes_are_checked():
    class NoName(Command):
        x: int

    with pytest.raises(TypeError, match="no `command` field"):
        CommandSet([NoName])
    with pytest.raises(TypeError, match="two commands"):
        CommandSet([Search, Search])


def test_raw_control_characters_inside_json_strings_are_accepted():
    """Small local models put raw newlines inside JSON strings; the JSON is still what they meant."""
    from labcoat.agents.commands import Dialogue
    from labcoat.llm.commands import CommandSet

    cmd = CommandSet([Dialogue]).parse({"text": '{"command": "dialogue", "text": "line one\nline\ttwo"}',
                                        "finish_reason": "stop"}, "json")
    assert cmd.text == "line one\nline\ttwo"


def test_json_mode_lists_small_integer_ranges_as_enums():
    """Grammar-constrained local models ignore minimum/maximum but keep an enum."""
    from labcoat.llm.commands import CommandSet
    from labcoat.review.commands import SubmitReview

    props = CommandSet([SubmitReview]).json_schema()["properties"]
    assert props["overall"]["enum"] == list(range(1, 11)) and props["quality"]["enum"] == [1, 2, 3, 4]
    assert "enum" not in CommandSet([SubmitReview]).tools()[0]["parameters"]["properties"]["overall"]


def test_choices_reach_a_field_of_list_items():
    """The reward model's verdicts may name only the attempts shown: an enum in JSON mode, a re-ask otherwise."""
    cmds = CommandSet([Assess], {"assess.verdicts.attempt": ["s1c0", "s1c1"]})
    schema = cmds.json_schema()
    assert schema["$defs"]["Verdict"]["properties"]["attempt"]["enum"] == ["s1c0", "s1c1"]
    assert schema["properties"]["verdicts"]["minItems"] == schema["properties"]["verdicts"]["maxItems"] == 2
    assert _strict_problem(schema) is None
    good = {"verdicts": [{"attempt": "s1c1", "score": 0.5, "rationale": "r", "lesson": "l"}]}
    assert cmds.parse({"text": json.dumps(good)}, "json").verdicts[0].attempt == "s1c1"
    bad = {"verdicts": [good["verdicts"][0], {"attempt": "s9c9", "score": None, "rationale": "r", "lesson": "l"}]}
    with pytest.raises(ReplyError) as err:
        cmds.parse({"text": json.dumps(bad)}, "json")
    assert err.value.kind == "not_a_choice" and "s1c0, s1c1" in err.value.feedback and '"s9c9"' in err.value.feedback
    assert "enum" not in json.dumps(cmds.tools())  # the tool list stays the cached prefix it was
    with pytest.raises(ValueError, match="no such command field"):
        CommandSet([Assess], {"assess.verdicts.nothing": ["x"]})
