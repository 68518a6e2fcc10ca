"""What the literature review records as read is what the PhD's prompt showed: a paper's text in full
(bounded where it is fetched, never clipped again by the transcript), an abstract as far as it was shown."""

from __future__ import annotations

import gzip
import re

from labcoat.phases import default_workflow
from labcoat.phases.literature_review import ABSTRACT_SHOWN
from labcoat.run.runner import create_run, execute
from labcoat.run.services import attach
from labcoat.store import open_store

from tests.support.lab_policies import reply_command
from tests.support.lab_services import LabScript, lab_config, recorded_arxiv
from tests.support.scripted_provider import TEST_KEY, ScriptedProvider


def test_a_paper_read_in_full_reaches_the_prompt_whole_as_recorded(tmp_path, httpserver, fixtures_dir,
                                                                   monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
    monkeypatch.setenv("LABCOAT_CACHE_DIR", str(tmp_path / "cache"))
    recorded_arxiv(fixtures_dir, httpserver)
    tex = (fixtures_dir / "latex" / "neural_fingerprints_1509.09292" / "paper_for_arxiv.tex").read_bytes()
    httpserver.expect_request(re.compile(r"^/e-print/.*")).respond_with_data(gzip.compress(tex),
                                                                             content_type="application/gzip")
    prompts: dict[int, str] = {}
    chosen: list[str] = []

    def phd(request, role, step):
        prompts[step] = "\n".join(m["content"] for m in request.messages)
        if step == 1:
            chosen.append(re.search(r"- id (\S+) \|", prompts[step]).group(1))
            return reply_command("full_text", paper_id=chosen[0], section="")
        return reply_command("add_paper", paper_id=chosen[0], summary="Learned graph fingerprints.")

    with ScriptedProvider(LabScript({"literature_review": phd})) as sp:
        config = lab_config(sp, httpserver, phases=["literature_review"],
                            budget={"lit_review_papers": 1, "phase_steps": {"literature_review": 4}})
        run_dir = create_run(config, tmp_path / "run")
        execute(run_dir, default_workflow, attach=attach)
    with open_store(run_dir, readonly=True) as store:
        assert store.info().state == "finished", store.info().message
        reads = store.artefact("literature_review")["data"]["papers"][0]["reads"]
    abstract, full = reads
    assert full["how"].startswith("read with full_text") and len(full["text"]) > 4000  # longer than a turn's clip
    assert full["text"] in prompts[2] and "more characters not shown" not in prompts[2]
    # the abstract as the search results showed it, and no further
    assert abstract["part"] in ("abstract", f"abstract (first {ABSTRACT_SHOWN} characters)")
    assert len(abstract["text"]) <= ABSTRACT_SHOWN and abstract["text"] in " ".join(prompts[1].split())
