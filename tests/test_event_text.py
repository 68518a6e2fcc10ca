"""Every event kind the code emits is told as a sentence, in `labcoat show` and on the dashboard alike."""

from __future__ import annotations

import re
from pathlib import Path

from labcoat.store.event_text import WORDS, describe
from labcoat.store.transcript import render_event
from tests.test_web_support import PHASE_EVENTS

SRC = Path(__file__).resolve().parents[1] / "src" / "labcoat"
EMIT = re.compile(r"""\bemit\(\s*["']([a-z_]+)["']""")
JSON_LINE = re.compile(r"""[{\[]\s*["']\w+["']\s*:""")
# kinds the shared fixture emits besides PHASE_EVENTS (dialogue, phase markers, the search, the run's ends)
FIXTURE_KINDS = {"agent_turn", "lab_feedback", "phase_start", "phase_end", "run_start", "run_end", "warning",
                 "mle_node", "mle_pool", "mle_dropped", "mle_best"}


def emitted_kinds() -> set[str]:
    return {kind for path in SRC.rglob("*.py") for kind in EMIT.findall(path.read_text(encoding="utf-8"))}


def test_every_kind_the_code_emits_has_its_sentence_and_a_fixture():
    kinds = emitted_kinds()
    assert {"mle_node", "paper_version", "reviews", "run_end", "warning"} <= kinds  # the scan finds them
    assert kinds - set(WORDS) == set(), "event kinds with no sentence in store/event_text.py"
    fixture = {kind for events in PHASE_EVENTS.values() for kind, _ in events} | FIXTURE_KINDS
    assert kinds - fixture == set(), "event kinds the dashboard fixture never emits"


def test_no_kind_reads_as_json_in_the_terminal_or_the_page():
    for events in PHASE_EVENTS.values():
        for kind, payload in events:
            ev = {"pos": 3, "ts": 0.0, "phase": "report_writing", "kind": kind, "payload": payload}
            said = describe(ev)
            line = render_event(ev)
            assert said.head and not JSON_LINE.search(f"{said.head} {said.text} {said.detail}"), (kind, said)
            assert not JSON_LINE.search(line), line


def test_the_words_for_the_search_and_the_paper():
    node = describe({"kind": "mle_node", "phase": "running_experiments", "payload": {
        "id": "s2c1", "parent": "s1c0", "operation": "edit", "status": "ok", "metric": 0.95614, "refusal": ""}})
    assert (node.head, node.text) == ("node s2c1", "(edit of s1c0) ran: metric 0.9561")
    refused = describe({"kind": "mle_node", "payload": {"id": "s2c0", "parent": None, "operation": "replace",
                                                        "status": "refused", "metric": None,
                                                        "refusal": "accuracy is a literal"}})
    assert refused.text == "(replace) refused" and refused.detail == "accuracy is a literal" and refused.tone == "warn"
    best = describe({"kind": "mle_best", "payload": {"node": "s2c1", "metric": 0.95614, "metric_name": "accuracy",
                                                     "reward": 0.7, "test": []}})
    assert best.text == "dev accuracy 0.9561, reward 0.7; no test metrics"
    unranked = describe({"kind": "mle_best", "payload": {"node": "s1c0", "metric": None,
                                                         "metric_name": "mean dev F1", "reward": 0.6, "test": []}})
    assert unranked.text == "reward 0.6 (no dev mean dev F1 recorded: ranked by reward); no test metrics"
    unnamed = describe({"kind": "mle_best", "payload": {"node": "s0c0", "metric": None, "metric_name": None,
                                                        "reward": 1.0, "test": []}})
    assert unnamed.text == "reward 1 (the plan names no metric: ranked by reward); no test metrics"
    older = describe({"kind": "mle_best", "payload": {"node": "s0c0", "metric": None, "reward": 1.0, "test": []}})
    assert older.text.startswith("dev metric -")
    version = describe({"kind": "paper_version", "payload": {"step": 2, "kept": False, "compiled": False,
                                                             "integrity_errors": 1, "score": 4}})
    assert version.text == "does not compile, 1 integrity error, reviewer score 4; not kept"


def test_an_unknown_or_misshapen_payload_reads_as_fields_never_json():
    custom = describe({"kind": "custom_probe", "payload": {"note": "hi", "ids": ["a", "b"], "deep": {"x": {"y": 1}},
                                                           "rows": [{"a": 1}]}})
    assert custom.head == "custom probe"
    assert custom.text == "note: hi; ids: a, b; deep: (1 field); rows: (1 item)"
    odd = describe({"kind": "mle_best", "payload": {"node": "s1c0", "test": "not a list"}})
    assert not JSON_LINE.search(odd.text)
    scalar = describe({"kind": "warning", "payload": ["not", "a", "dict"]})
    assert scalar.head == "warning:" and not JSON_LINE.search(scalar.text)


def test_an_agents_command_is_told_in_words_not_as_its_json_arguments():
    from labcoat.agents.dialogue import render_command

    text = render_command({"command": "plan", "question": "Does scaling matter?", "subsampling": [],
                           "datasets": [{"name": "wine", "source": "scikit-learn"}, {"name": "digits"}],
                           "code": "import json\nprint(json.dumps({'a': 1}))\n", "baseline": None, "seeds": 3})
    said = describe({"kind": "agent_turn", "payload": {"step": 1, "role": "postdoc", "command": "plan", "text": text}})
    assert (said.head, said.text) == ("postdoc › plan", "step 1")
    assert said.detail.splitlines()[:3] == ["question: Does scaling matter?", "subsampling: none",
                                             "datasets: name wine, source scikit-learn; name digits"]
    assert said.code == "# code\nimport json\nprint(json.dumps({'a': 1}))\n" and "seeds: 3" in said.detail
    assert not JSON_LINE.search(said.detail) and "import" not in said.detail
    # a dialogue turn, or text of another shape, is the agent's words as they are
    plain = 'plan: I think we should {"not": parsed'
    assert describe({"kind": "agent_turn", "payload": {"role": "phd", "command": "plan", "text": plain}}).detail == plain
