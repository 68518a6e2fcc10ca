"""`labcoat review --model` picks the reviewers' model; the form comes back complete for a real PDF."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from labcoat.cli import main
from labcoat.review.form import ReviewForm

from tests.support.scripted_provider import ScriptedProvider, reply_command, scripted_config, scripted_env

FORM = dict(summary="An agent for paper search.", strengths=["a benchmark"], weaknesses=["cost"], originality=3,
            quality=3, clarity=3, significance=3, soundness=3, presentation=3, contribution=3,
            questions=["recall?"], limitations="discussed", ethics="none", overall=5, confidence=3, decision="reject")


def test_review_with_model_uses_it_for_every_reviewer(tmp_path: Path, monkeypatch, fixtures_dir, capsys):
    with ScriptedProvider(lambda _r: reply_command("review", **FORM)) as sp:
        for name, value in scripted_env(sp).items():
            monkeypatch.setenv(name, value)
        config = scripted_config(sp, model="openai:gpt-4o-mini", topic="review")
        path = tmp_path / "review.yaml"
        path.write_text(yaml.safe_dump(config.model_dump(mode="json", exclude={"compat_notes"})))
        main(["review", str(fixtures_dir / "pdf" / "paperqa_pasa.pdf"), "--config", str(path), "--model",
              "openai:gpt-4o", "--runs", str(tmp_path / "runs"), "--json"])
    document = json.loads(capsys.readouterr().out)
    assert [r.model for r in sp.requests] == ["gpt-4o"] * 3
    assert len(document["reviews"]) == 3
    for review in document["reviews"]:
        assert ReviewForm.model_validate({k: v for k, v in review.items() if k != "reviewer"}) == ReviewForm(**FORM)
    assert document["aggregate"]["scores"]["overall"]["mean"] == 5.0 and document["automated"] is True
