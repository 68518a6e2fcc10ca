"""The review form validates its ranges; reviews aggregate; the notice is honest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from labcoat.llm.commands import CommandSet
from labcoat.llm.vision import text_of
from labcoat.review.aggregate import DECISION_RULE, aggregate, notice, reviews_document
from labcoat.review.commands import SubmitReview
from labcoat.review.form import SCORE_FIELDS, ReviewForm, score_range
from labcoat.review.integrity import check_integrity
from labcoat.review.personas import PERSONAS, paper_message, persona, system_prompt
from labcoat.review.run_records import review_records


def _form(**scores) -> ReviewForm:
    base = dict(summary="A probe study.", strengths=["clear"], weaknesses=["one dataset"], originality=2, quality=2,
                clarity=3, significance=2, soundness=2, presentation=3, contribution=2, questions=["why SST-2?"],
                limitations="not discussed", ethics="none", overall=4, confidence=3, decision="reject")
    base.update(scores)
    return ReviewForm(**base)


def test_ranges_and_fields_are_validated() -> None:
    assert _form().overall == 4
    for field, bad in [("overall", 11), ("overall", 0), ("originality", 5), ("soundness", 0), ("confidence", 6)]:
        with pytest.raises(ValidationError, match=field):
            _form(**{field: bad})
    with pytest.raises(ValidationError, match="decision"):
        _form(decision="maybe")
    with pytest.raises(ValidationError, match="extra"):
        _form(score=3)
    with pytest.raises(ValidationError, match="summary"):
        ReviewForm.model_validate({k: v for k, v in _form().model_dump().items() if k != "summary"})
    assert score_range("overall") == (1, 10) and score_range("confidence") == (1, 5) and score_range("clarity") == (1, 4)
    schema = ReviewForm.model_json_schema()
    assert schema["properties"]["overall"]["maximum"] == 10 and set(SCORE_FIELDS) <= set(schema["required"])


def test_aggregate_mean_spread_and_decision() -> None:
    reviews = [_form(overall=3, clarity=2), _form(overall=6, clarity=3, decision="accept"), _form(overall=6, clarity=4, decision="accept")]
    summary = aggregate(reviews)
    assert summary.n == 3 and summary.overall == 5.0
    assert summary.scores["overall"].spread == pytest.approx(1.414, abs=1e-3)
    assert (summary.scores["clarity"].mean, summary.scores["clarity"].low, summary.scores["clarity"].high) == (3.0, 2, 4)
    # mean 5.0 is below borderline accept: the panel rejects although two reviewers voted accept, and says so
    assert summary.decision == "reject" and summary.decisions == {"reject": 1, "accept": 2}
    assert summary.split == "2 accept, 1 reject" and summary.to_dict()["decision_rule"] == DECISION_RULE
    with pytest.raises(ValueError, match="no reviews"):
        aggregate([])
    document = reviews_document([(p.name, r) for p, r in zip(PERSONAS, reviews)])
    assert document["automated"] is True and [r["reviewer"] for r in document["reviews"]] == ["rigour", "impact", "novelty"]
    assert document["aggregate"]["scores"]["overall"]["mean"] == 5.0


@pytest.mark.parametrize("votes", ["accept", "reject", "mixed"])
def test_the_panel_decision_follows_the_mean_over_every_score_triple(votes: str) -> None:
    """1-10 cubed: the decision is derived from the mean by the stated rule, whatever the reviewers voted."""
    for a in range(1, 11):
        for b in range(1, 11):
            for c in range(1, 11):
                forms = [_form(overall=s, decision=(votes if votes != "mixed" else ("accept" if s >= 6 else "reject")))
                         for s in (a, b, c)]
                summary = aggregate(forms)
                mean = (a + b + c) / 3
                assert summary.decision == ("accept" if mean >= 6 else "reject"), (a, b, c, votes)
                document = reviews_document([(p.name, r) for p, r in zip(PERSONAS, forms)], summary)
                assert document["decision"] == summary.decision and document["decision_rule"] == DECISION_RULE
    # the two contradictions seen in real runs
    assert aggregate([_form(overall=s, decision="accept") for s in (2, 3, 3)]).decision == "reject"
    assert aggregate([_form(overall=s) for s in (10, 10, 8)]).decision == "accept"


def test_notice_states_overrating_and_passes_the_integrity_check(tmp_path: Path) -> None:
    summary = aggregate([_form(overall=5), _form(overall=6)])
    md, tex = notice(summary, "md"), notice(summary, "tex")
    for text in (md, tex):
        assert "automated" in text and "6.1/10" in text and "3.8/10" in text and "5.5" in text and "overrate" in text
    paper = "\\documentclass{article}\n\\begin{document}\n" + tex + "\\end{document}\n"
    assert check_integrity(paper, "", recorded_numbers=review_records(reviews_document([], summary)), retrieved_keys=set(), figure_dir=tmp_path).ok
    assert not check_integrity(paper, "", recorded_numbers=[], retrieved_keys=set(), figure_dir=tmp_path).ok


def test_three_personas_brief_differently() -> None:
    system = system_prompt(language="German")
    assert "review form" in system and "German" in system and "overall" not in system  # the schema says it once
    # the scales reach the model once, whichever way it replies: as tool descriptions, or (a model constrained
    # by a grammar built from the schema never reads the schema) in the instructions
    for told in (json.dumps(CommandSet([SubmitReview]).wire("tools")) + CommandSet([SubmitReview]).instructions("tools"),
                 CommandSet([SubmitReview]).instructions("json")):
        assert told.count("6 borderline accept") == 1 and told.count("1 educated guess") == 1
    parts = [paper_message("A paper.", p) for p in PERSONAS]
    assert all(m[0]["cache"] for m in parts) and not paper_message("A paper.", PERSONAS[0], cached=False)[0].get("cache")
    messages = [text_of(m) for m in parts]
    assert len(set(messages)) == 3 and len(PERSONAS) == 3
    for reviewer, message in zip(PERSONAS, messages):
        # the paper first, the same for every reviewer (a provider caches it); the persona last
        assert message.startswith("<paper>\nA paper.\n</paper>") and message.rstrip().endswith("Review this paper as this reviewer.")
        assert reviewer.brief in message and reviewer.brief not in system
    assert persona("novelty").title.startswith("Reviewer 3")
    with pytest.raises(KeyError, match="personas"):
        persona("lenient")
    message = text_of(paper_message("x" * 100, PERSONAS[0], max_chars=40))
    assert "60 more characters were not shown" in message and message.split("</paper>")[0].count("x") == 40
    with pytest.raises(ValueError, match="empty"):
        paper_message("  ", PERSONAS[0])


def test_review_command_schema_is_strict_and_bad_scores_get_precise_feedback() -> None:
    from labcoat.llm.commands import CommandSet, ReplyError
    from labcoat.review.commands import SubmitReview

    commands = CommandSet([SubmitReview])
    schema = commands.tools()[0]["parameters"]
    assert schema["additionalProperties"] is False and set(schema["required"]) == set(schema["properties"])
    assert schema["properties"]["overall"]["maximum"] == 10 and "command" not in schema["properties"]
    arguments = _form().model_dump()
    arguments["overall"] = 11
    with pytest.raises(ReplyError) as refused:
        commands.parse({"tool_calls": [{"name": "review", "arguments": json.dumps(arguments)}], "text": ""}, "tools")
    assert "`overall`" in refused.value.feedback and "less than or equal to 10" in refused.value.feedback
    arguments["overall"] = 4
    parsed = commands.parse({"text": json.dumps({**arguments, "command": "review"})}, "json")
    assert parsed.form() == _form()
