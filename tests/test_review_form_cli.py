"""`labcoat review PAPER` through the real LLM layer against the scripted provider."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from labcoat.cli import main
from labcoat.review.personas import PERSONAS
from labcoat.store import open_store

from tests.support.scripted_provider import ScriptedProvider, reply_command, scripted_config, scripted_env

SCORES = {"rigour": 3, "impact": 4, "novelty": 5}


def _form(overall: int, **changes) -> dict:
    form = dict(summary="PaSa is an LLM agent for paper search.", strengths=["a new benchmark"],
                weaknesses=["costly"], originality=3, quality=2, clarity=3, significance=2, soundness=2,
                presentation=3, contribution=2, questions=["how is recall measured?"],
                limitations="partly discussed", ethics="none", overall=overall, confidence=4,
                decision="accept" if overall >= 6 else "reject")
    form.update(changes)
    return form


def _policy(request):
    persona = next(p for p in PERSONAS if p.brief in request.messages[0]["content"])
    if persona.name == "impact" and not any("Error:" in m["content"] for m in request.messages):
        return reply_command("review", **_form(11))  # out of range: refused, then corrected
    return reply_command("review", **_form(SCORES[persona.name]))


@pytest.fixture
def scripted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    with ScriptedProvider(_policy) as sp:
        for name, value in scripted_env(sp).items():
            monkeypatch.setenv(name, value)
        config = scripted_config(sp, model="openai:gpt-4o-mini", topic="review")
        path = tmp_path / "review.yaml"
        path.write_text(yaml.safe_dump(config.model_dump(mode="json", exclude={"compat_notes"})))
        yield sp, path


def test_review_of_a_pdf_returns_complete_forms_aggregated(scripted, fixtures_dir: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    sp, config = scripted
    main(["review", str(fixtures_dir / "pdf" / "paperqa_pasa.pdf"), "--config", str(config),
          "--runs", str(tmp_path / "runs"), "--json"])
    captured = capsys.readouterr()
    document = json.loads(captured.out)  # with --json the progress goes to stderr, stdout stays JSON
    assert "reviewer 3/3 novelty finished: overall 5/10" in captured.err
    assert [r["reviewer"] for r in document["reviews"]] == ["rigour", "impact", "novelty"]
    assert [r["overall"] for r in document["reviews"]] == [3, 4, 5]
    assert document["aggregate"]["scores"]["overall"] == {"mean": 4.0, "spread": 0.816, "low": 3, "high": 5}
    assert document["decision"] == "reject" and document["automated"] is True and "3.8/10" in document["notice"]
    # every reviewer read the paper's text, extracted from the PDF
    first = [r for r in sp.requests if r.status == 200]
    assert len(first) == 4 and all("PaSa" in r.last_user or "Error:" in r.last_user for r in first)
    assert any("less than or equal to 10" in r.last_user for r in first)
    run_dir = next((tmp_path / "runs").iterdir())
    assert json.loads((run_dir / "reviews.json").read_text()) == document
    with open_store(run_dir, readonly=True) as store:
        assert store.info().shown_state == "finished"
        assert [e["kind"] for e in store.events(kinds=["reviews"])] == ["reviews"]
        assert len(store.ledger()) == 4


def test_review_of_a_tex_file_and_bad_input(scripted, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    sp, config = scripted
    paper = tmp_path / "paper.tex"
    paper.write_text("\\documentclass{article}\\title{Tiny Probes}\\begin{document}\\maketitle\n"
                     "\\section{Introduction}\nProbes \\citep{smith2020}.\n\\end{document}\n")
    main(["review", str(paper), "--config", str(config), "--runs", str(tmp_path / "runs")])
    out = capsys.readouterr().out
    assert "panel decision: reject" in out and "overall 4.00 ± 0.82" in out and "automated" in out
    # each reviewer says when it starts and, with its score, when it is done, in the panel's order
    progress = [line.split("  tokens")[0] for line in out.splitlines() if line.startswith("reviewer ")]
    assert progress == ["reviewer 1/3 rigour started", "reviewer 1/3 rigour finished: overall 3/10, reject",
                        "reviewer 2/3 impact started", "reviewer 2/3 impact finished: overall 4/10, reject",
                        "reviewer 3/3 novelty started",
                        "reviewer 3/3 novelty finished: overall 5/10, reject"]
    assert "review of paper.tex" in out and out.index("review of paper.tex") < out.index("rigour started")
    finished = [line for line in out.splitlines() if "finished: overall" in line]
    assert "tokens 0 " not in finished[0]  # the spend so far is counted as the calls return
    # the reviewers read the LaTeX rendered as Markdown, not its preamble
    assert any("# Tiny Probes" in r.last_user and "[smith2020]" in r.last_user for r in sp.requests)
    assert not any("documentclass" in r.last_user for r in sp.requests)
    with pytest.raises(SystemExit) as exited:
        main(["review", str(tmp_path / "paper.docx"), "--config", str(config)])
    assert exited.value.code == 1 and "no such file" in capsys.readouterr().err


def test_review_over_budget_stops_before_calling(scripted, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    sp, config = scripted
    paper = tmp_path / "paper.md"
    paper.write_text("# A paper\n\nSome text about probes.\n")
    with pytest.raises(SystemExit) as exited:
        main(["review", str(paper), "--config", str(config), "--runs", str(tmp_path / "runs"),
              "--set", "budget.dollars=0.0000001"])
    err = capsys.readouterr().err
    assert exited.value.code == 1 and "did not finish (paused): budget reached" in err
    assert "`labcoat resume" not in err and "labcoat review --resume" in err
    assert sp.requests == []


def test_a_reviewer_that_never_fills_the_form_is_left_out_and_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture) -> None:
    def policy(request):
        persona = next(p for p in PERSONAS if p.brief in request.messages[0]["content"])
        if persona.name == "rigour":
            return "A long ramble with no form in it."  # every attempt: no command
        return reply_command("review", **_form(SCORES[persona.name]))

    with ScriptedProvider(policy) as sp:
        for name, value in scripted_env(sp).items():
            monkeypatch.setenv(name, value)
        config = scripted_config(sp, model="openai:gpt-4o-mini", topic="review", models={"reply_retries": 1})
        path = tmp_path / "review.yaml"
        path.write_text(yaml.safe_dump(config.model_dump(mode="json", exclude={"compat_notes"})))
        paper = tmp_path / "paper.md"
        paper.write_text("# A paper\n\nSome text about probes.\n")
        main(["review", str(paper), "--config", str(path), "--runs", str(tmp_path / "runs"), "--json"])
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert [r["reviewer"] for r in document["reviews"]] == ["impact", "novelty"]
    assert document["skipped_reviewers"] == ["rigour"] and document["overall_mean"] == 4.5
    assert "reviewer 1/3 rigour sent no valid review; the panel goes on without it" in captured.err
    run_dir = next((tmp_path / "runs").iterdir())
    with open_store(run_dir, readonly=True) as store:
        assert [e["payload"]["role"] for e in store.events(kinds=["turn_skipped"])] == ["reviewer"]
        assert store.info().shown_state == "finished"


def test_a_review_run_again_on_its_folder_replays_its_calls(scripted, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture) -> None:
    sp, config = scripted
    paper, out = tmp_path / "paper.md", tmp_path / "my-review"
    paper.write_text("# A paper\n\nSome text about probes.\n")
    main(["review", str(paper), "--config", str(config), "--out", str(out), "--json"])
    first = capsys.readouterr()
    made = len(sp.requests)
    assert made == 4 and "4 call(s) made, 0 replayed" in first.err
    main(["review", str(paper), "--out", str(out), "--json"])
    again = capsys.readouterr()
    assert len(sp.requests) == made  # nothing reached the provider
    assert json.loads(again.out) == json.loads(first.out)
    assert "0 call(s) made, 4 replayed from the record" in again.err
    main(["review", "--resume", str(out)])  # the paper is the recorded one
    assert "0 call(s) made, 4 replayed" in capsys.readouterr().out and len(sp.requests) == made
    with open_store(out, readonly=True) as store:
        assert len(store.ledger()) == 4 and store.info().shown_state == "finished"
    other = tmp_path / "other.md"
    other.write_text("# Another paper\n")
    with pytest.raises(SystemExit) as exited:
        main(["review", str(other), "--resume", str(out)])
    assert exited.value.code == 1 and "use another --out for another paper" in capsys.readouterr().err


def test_a_paused_review_resumes_where_it_stopped(scripted, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    sp, config = scripted
    paper, out = tmp_path / "paper.md", tmp_path / "review"
    paper.write_text("# A paper\n\nSome text about probes.\n")
    with pytest.raises(SystemExit):
        main(["review", str(paper), "--config", str(config), "--out", str(out), "--set", "budget.dollars=0.0000001"])
    assert f"labcoat review --resume {out}" in capsys.readouterr().err and sp.requests == []
    main(["review", "--resume", str(out), "--set", "budget.dollars=10"])
    assert "4 call(s) made, 0 replayed" in capsys.readouterr().out and len(sp.requests) == 4
    with pytest.raises(SystemExit) as exited:
        main(["review", "--resume", str(tmp_path / "nowhere")])
    assert exited.value.code == 1 and "holds no review run" in capsys.readouterr().err
