"""The report phases end to end: stand-in earlier phases give fixed artefacts; the
paper-solver drafts, edits and compiles with the real latexmk; reviewers,
refinement, integrity, README and archive publishing run on a real run store
with the scripted model and recorded arXiv feeds on loopback."""

from __future__ import annotations

import json
import re
import struct
import subprocess
import zlib

import pytest

from labcoat.artefacts import DataCode, Interpretation, LitReview, MetricSpec, MetricValue, PaperRecord, Plan, Results
from labcoat.cli import main
from labcoat.phases import available_phases
from labcoat.review.personas import PERSONAS
from labcoat.run.runner import create_run, execute
from labcoat.run.services import attach
from labcoat.store import open_store
from labcoat.tools import bibtex
from labcoat.workflow import Phase, Workflow

from tests.support.full_lab import look_at_figure
from tests.support.lab_policies import reply_command
from tests.support.lab_services import LabScript, lab_config, recorded_arxiv
from tests.support.scripted_provider import TEST_KEY, ScriptedProvider
from tests.support.scripted_run import RecordingProgress

LIT_TITLE = "Scaling Features for Tabular Classifiers"
PHASES = ["literature_review", "plan_formulation", "data_preparation", "running_experiments",
          "results_interpretation", "report_writing", "report_refinement"]
REVIEW_SCORES = {"rigour": 4, "impact": 6, "novelty": 5}
HEADINGS = {"Abstract": "abstract", "Introduction": "introduction", "Background": "background",
            "Related Work": "related_work", "Methods": "methods", "Experimental Setup": "experimental_setup",
            "Results": "results", "Discussion": "discussion"}
NUMBERED = re.compile(r"^\s*(\d+)\| (.*)$", re.MULTILINE)


def tiny_png(path) -> None:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + b"\x20\x60\xc0" * 16 for _ in range(16))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def lit_review(ctx) -> LitReview:
    meta = {"id": "2101.00001v1", "title": LIT_TITLE, "authors": ["Ada Smith", "Bo Chen"],
            "published": "2021-01-04", "url": "https://arxiv.org/abs/2101.00001v1"}
    entry = bibtex.entry(meta)
    return LitReview(target=1, papers=[PaperRecord(id=meta["id"], title=LIT_TITLE, authors=meta["authors"], year=2021,
                                                   summary="Standardisation changes linear models, not trees.",
                                                   bibtex_key=bibtex.cite_key(meta), bibtex=entry)])


def plan(ctx) -> Plan:
    return Plan(question="Does standardising features change the ranking of classifiers?",
                hypotheses=["Standardisation helps logistic regression but not random forests."],
                method="Compare each classifier with and without StandardScaler.", baselines=["random forest"],
                metrics=[MetricSpec(name="accuracy")], protocol="Select on dev; test once.")


def data(ctx) -> DataCode:
    return DataCode(code="import numpy as np\nrows = 4000\n", data_source="scikit-learn", sizes={"train": 500, "dev": 143},
                    subsampling=["the training set was subsampled to 500 of 4000 rows"])


def stand_ins(seen_notes: list):
    def experiments(ctx) -> Results:
        seen_notes.append(list(ctx.phase_notes()))
        tiny_png(ctx.run_dir / "exec" / "s1c0" / "dev_accuracy.png")
        return Results(best_code="from sklearn.linear_model import LogisticRegression\nC = 1.0\n",
                       metrics=[MetricValue(name="accuracy", value=0.9649122807, split="dev", source="s1c0")],
                       test_metrics=[MetricValue(name="accuracy", value=0.9561, split="test", source="s1c0/test")],
                       figures=["exec/s1c0/dev_accuracy.png"])

    def interpretation(ctx) -> Interpretation:
        return Interpretation(text="The standardised logistic regression reached 0.9649 dev accuracy.",
                              claims=["Standardisation helps the linear model."], numbers_used=[0.9649])

    return {"literature_review": lit_review, "plan_formulation": plan, "data_preparation": data,
            "running_experiments": experiments, "results_interpretation": interpretation}


def factory_for(seen_notes: list):
    fixed = stand_ins(seen_notes)

    def factory(config) -> Workflow:
        real = available_phases()
        return Workflow([Phase(name, fixed[name]) if name in fixed else real[name] for name in config.phases])
    return factory


BODIES = {
    "introduction": ["Feature scaling is a routine step whose effect on model rankings is rarely measured \\citep{%s}.",
                     "Our best model reaches 0.991 dev accuracy.",
                     "Earlier reports disagree \\citep{ghost2021phantom}."],
    "background": ["Standardisation rescales each feature to zero mean and unit variance."],
    "methods": ["We train logistic regression with $C = 1.0$ with and without standardisation."],
    "experimental_setup": ["The training set was subsampled to 500 of 4000 rows; the dev split has 143 rows."],
    "results": ["\\Cref{tab:metrics} lists the recorded metrics: the best dev accuracy was 0.9649 and the test "
                "accuracy 0.9561 (\\cref{fig:dev_accuracy})."],
    "discussion": ["Standardisation helped the linear model; a single data set limits the conclusion."],
    "abstract": ["We measure how standardisation changes classifier rankings; the best dev accuracy is 0.9649."],
}


class ReportScript:
    """The scripted lab for the report phases; remembers the prompts it was sent."""

    def __init__(self, decisions: list[tuple[str, str]] | None = None, summary_lies: bool | str = False):
        self.decisions = list(decisions or [("accept", "")])
        self.summary_lies = summary_lies
        self.summary_prompts: list[str] = []
        self.writing_systems: list[str] = []
        self.edit_prompts: list[str] = []
        self.decide_prompts: list[str] = []
        self.searched_key: str | None = None
        self.figure_requests: list = []

    def __call__(self, request):
        if request.command_names == ["figure_check"]:
            self.figure_requests.append(request)
            return look_at_figure(request)
        return LabScript({"report_writing": self.writing, "report_refinement": self.refinement})(request) \
            if request.command_names != ["review"] else self.review(request)

    def review(self, request):
        persona = next(p for p in PERSONAS if p.brief in request.messages[0]["content"])
        overall = REVIEW_SCORES[persona.name]
        return reply_command("review", summary="Compares classifiers with and without scaling.",
                             strengths=["recorded numbers"], weaknesses=[f"{persona.name}: only one data set"],
                             originality=2, quality=3, clarity=3, significance=2, soundness=3, presentation=3,
                             contribution=2, questions=["why one data set?"], limitations="stated", ethics="none",
                             overall=overall, confidence=3, decision="accept" if overall >= 6 else "reject")

    def writing(self, request, role, _step):
        text = request.last_user
        self.writing_systems.append(request.system)
        if role == "phd":
            heading = re.search(r"Draft the (.+?) section", text).group(1)
            key = HEADINGS[heading]
            if key == "related_work":
                found = re.findall(r"^- (\S+): ", text.split("now citable:")[-1], re.MULTILINE) \
                    if "now citable:" in text else []
                if not found:
                    return reply_command("search", query="feature scaling classifiers", source="arxiv")
                self.searched_key = found[0]
                body = f"Scaling was studied by \\citet{{{found[0]}}} and \\citet{{{lit_key()}}}."
                return reply_command("section", body=body)
            lines = BODIES[key]
            body = "\n".join(lines).replace("%s", lit_key())
            return reply_command("section", body=body)
        self.edit_prompts.append(text)
        lines = {int(n): line for n, line in NUMBERED.findall(text)}
        if "needs repair" not in text:
            bad = next(n for n, line in lines.items() if "0.991" in line)
            return reply_command("edit", start=bad, end=bad + 1,
                                 body="Our best model reaches 0.9649 dev accuracy \\textbf{as recorded.")
        if "never closed" in text:
            bad = next(n for n, line in lines.items() if "0.991" in line)
            return reply_command("edit", start=bad, end=bad + 1,
                                 body="Our best model reaches 0.9649 dev accuracy \\undefinedmacro.")
        bad = next(n for n, line in lines.items() if "undefinedmacro" in line)
        return reply_command("edit", start=bad, end=bad, body="Our best model reaches 0.9649 dev accuracy.")

    def refinement(self, request, role, _step):
        if role == "professor":
            self.summary_prompts.append(request.last_user)
            if self.summary_lies == "garbled":  # a small model that never gets the command out
                return "Summary: the question is qquestrue and"
            if self.summary_lies == "always":  # a small model echoing a table of its own into every field
                return reply_command("summary", question="Does scaling help?\n| accuracy | dev | 2.953678 |",
                                     method="train | test | 4.662773",
                                     findings=["Dev accuracy 0.9649 (recorded in s1c0).", "Recall rose to 0.8812."],
                                     limitations=["The reviewers' mean score was 5.0/10.", "Variance 0.0412."])
            lie = self.summary_lies and len(self.summary_prompts) == 1
            return reply_command("summary", question="Does standardisation change classifier rankings?",
                                 method="Logistic regression with and without standardisation.",
                                 findings=["Dev accuracy 0.9649 (recorded in s1c0)."]
                                 + (["Test accuracy 0.9777 on a held-out set."] if lie else []),
                                 limitations=["One data set; automated reviews."])
        self.decide_prompts.append(request.last_user)
        decision, phase = self.decisions.pop(0) if len(self.decisions) > 1 else self.decisions[0]
        return reply_command("decide", decision=decision, phase=phase,
                             reason="The reviewers ask for more than one data set." if phase else "Good enough.")


def lit_key() -> str:
    return bibtex.cite_key({"id": "2101.00001v1", "title": LIT_TITLE, "authors": ["Ada Smith"],
                            "published": "2021-01-04"})


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
    monkeypatch.setenv("LABCOAT_CACHE_DIR", str(tmp_path / "cache"))


def events(run_dir, kind):
    with open_store(run_dir, readonly=True) as store:
        return [e["payload"] for e in store.events() if e["kind"] == kind]


def state(run_dir):
    with open_store(run_dir, readonly=True) as store:
        return store.info()


def test_full_report_compiles_is_checked_repaired_reviewed_and_replays(tmp_path, httpserver, fixtures_dir, env,
                                                                       monkeypatch, capsys):
    recorded_arxiv(fixtures_dir, httpserver)
    script = ReportScript()
    notes: list = []
    with ScriptedProvider(script) as sp:
        config = lab_config(sp, httpserver, phases=PHASES, budget={"paper_steps": 1, "refinement_rounds": 1})
        run_dir = create_run(config, tmp_path / "run")
        progress = RecordingProgress()
        execute(run_dir, factory_for(notes), attach=attach, progress=progress)
        info = state(run_dir)
        assert info.state == "finished", info.message
        served = len(sp.requests)
        # the run's progress tells of each scored version and of each reviewer of the panel, in order
        told = ["the draft: reviewer score 4/10", "step 1's version: reviewer score 4/10, kept",
                "reviewer 1/3 rigour started", "reviewer 1/3 rigour finished: overall 4/10, reject",
                "reviewer 2/3 impact started", "reviewer 2/3 impact finished: overall 6/10, accept",
                "reviewer 3/3 novelty started", "reviewer 3/3 novelty finished: overall 5/10, reject"]
        assert progress.messages == told

        folder = run_dir / "report"
        for name in ("report.pdf", "report.tex", "references.bib", "integrity.json", "reviews.json",
                     "figures/dev_accuracy.png"):
            assert (folder / name).is_file(), name
        text = " ".join(subprocess.run(["pdftotext", str(folder / "report.pdf"), "-"], capture_output=True,
                                       text=True, timeout=60, check=True).stdout.split())
        for heading in ("Introduction", "Background", "Related Work", "Methods", "Experimental Setup", "Results",
                        "Discussion", "Abstract"):
            assert heading in text
        assert "0.9649" in text and "0.9561" in text             # the generated table and the prose
        assert "References" in text and LIT_TITLE in text        # the cited paper's title in the bibliography
        assert "overrate" in text and "6.1/10" in text           # the automated-reviews notice
        bib = (folder / "references.bib").read_text()
        assert script.searched_key and script.searched_key in bib  # found while writing, then citable
        assert "ghost2021phantom" not in bib

        # the unknown citation was sent back while drafting, twice; the last turn had to be taken as it was
        refused = [e for e in events(run_dir, "paper_draft") if e.get("refused")]
        assert [(e["section"], e["keys"]) for e in refused] == [("introduction", ["ghost2021phantom"])] * 2
        # integrity findings went back to the Professor, with their lines; the fix made the check pass
        first = script.edit_prompts[0]
        assert "'0.991' matches no number" in first and "ghost2021phantom" in first
        assert "warning: line" in first and "citation 'ghost2021phantom' is undefined" in first  # LaTeX's view too
        bad_line = next(int(n) for n, line in NUMBERED.findall(first) if "0.991" in line)
        # the missing brace came back with its line, then the undefined control sequence with its line
        assert f"line {bad_line}: '{{' is never closed" in script.edit_prompts[1]
        assert re.search(rf"report\.tex:{bad_line}: Undefined control sequence", script.edit_prompts[2])
        assert len(script.edit_prompts) == 3
        integrity = json.loads((folder / "integrity.json").read_text())
        assert integrity["ok"] and integrity["errors"] == 0 and integrity["numbers_matched"] >= 3
        tex = (folder / "report.tex").read_text()
        assert "0.991" not in tex and "undefinedmacro" not in tex and "\\input{metrics_table}" in tex

        reviews = json.loads((folder / "reviews.json").read_text())
        assert [r["reviewer"] for r in reviews["reviews"]] == ["rigour", "impact", "novelty"]
        assert reviews["overall_mean"] == 5.0 and reviews["overall_spread"] == 0.816 and reviews["automated"]
        assert events(run_dir, "reviews")[0]["overall_mean"] == 5.0
        with open_store(run_dir, readonly=True) as store:
            report = store.artefact("report_writing")["data"]
            outcome = store.artefact("report_refinement")["data"]
        assert report["pdf"] == "report/report.pdf" and report["score"] == 4.0
        assert [h["outcome"] for h in report["history"]] == ["draft", "refused", "checked", "checked"]
        assert outcome["decision"] == "accept" and outcome["integrity_ok"] is True
        readme = (run_dir / "README.md").read_text()
        assert "## Integrity check\nPassed" in readme and "| accuracy | dev | 0.964912 | s1c0 |" in readme
        assert "## Cost" in readme and "model calls" in readme and "Dev accuracy 0.9649" in readme

        # `labcoat check` agrees, and fails on a number no run produced
        main(["check", str(run_dir)])
        assert "integrity check passed" in capsys.readouterr().out
        (folder / "report.tex").write_text(tex.replace("Standardisation helped", "Standardisation helped by 0.4213"))
        with pytest.raises(SystemExit) as failed:
            main(["check", str(run_dir)])
        assert failed.value.code == 1 and "0.4213" in capsys.readouterr().out
        (folder / "report.tex").write_text(tex)

        # resume replays every call and compile from the store: nothing runs live
        def no_compile(*_args, **_kwargs):
            raise AssertionError("a replayed run compiled LaTeX")
        monkeypatch.setattr("labcoat.solvers.paper.build.compile_latex", no_compile)
        replayed = RecordingProgress()
        execute(run_dir, factory_for(notes), attach=attach, resumed=True, progress=replayed)
        info = state(run_dir)
        assert info.state == "finished" and "finished: 0 effects live" in info.message, info.message
        assert len(sp.requests) == served
        assert replayed.messages == told  # the replayed panel is told as the live one was


def test_refinement_returns_to_experiments_with_the_reviews_then_ends_within_the_round_bound(
        tmp_path, httpserver, fixtures_dir, env):
    recorded_arxiv(fixtures_dir, httpserver)
    # first a phase it cannot return to (refused, asked again), then the experiments; it would go on forever
    script = ReportScript(decisions=[("revisit", "literature_review"), ("revisit", "running_experiments")],
                          summary_lies=True)
    notes: list = []
    with ScriptedProvider(script) as sp:
        config = lab_config(sp, httpserver, phases=PHASES, report={"compile_latex": False},
                            archive={"url": "http://127.0.0.1:9", "publish": True},
                            budget={"paper_steps": 0, "refinement_rounds": 1})
        run_dir = create_run(config, tmp_path / "run")
        execute(run_dir, factory_for(notes), attach=attach)
    info = state(run_dir)
    assert info.state == "finished", info.message

    # the experiments ran again, with the reviews as their notes
    assert len(notes) == 2 and notes[0] == []
    assert any("rigour: only one data set" in n and "more than one data set" in n for n in notes[1])
    assert [e["to"] for e in events(run_dir, "revisit")] == ["running_experiments"]
    assert sum(e.get("attempt") == 1 for e in events(run_dir, "phase_start")) == 4  # experiments .. refinement
    assert len(script.decide_prompts) == 2 and "Refused: 'literature_review'" in script.decide_prompts[1]
    with open_store(run_dir, readonly=True) as store:
        final = store.artefact("report_refinement")["data"]
        report = store.artefact("report_writing")["data"]
    assert final["decision"] == "accept" and "round bound" in final["reason"] and final["round"] == 1
    assert len(events(run_dir, "reviews")) == 2

    # no LaTeX run: the .tex and a Markdown rendering that says why
    folder = run_dir / "report"
    assert report["pdf"] is None and not (folder / "report.pdf").exists()
    assert "compile_latex: false" in report["compile_note"]
    markdown = (folder / "report.md").read_text()
    assert "not compiled to PDF" in markdown and "0.9649" in markdown and "overrate" in markdown
    assert not list((run_dir).glob("paper_builds/*"))
    readme = (run_dir / "README.md").read_text()
    assert "`report/report.md`" in readme
    # the Professor's made-up number was refused; the corrected summary is what the README says
    assert len(script.summary_prompts) == 2 and "no recorded result: 0.9777" in script.summary_prompts[1]
    assert "0.9777" not in readme and "Dev accuracy 0.9649 (recorded in s1c0)." in readme
    # with no edit steps the drafted number and citation stay: the README and the warnings say so
    assert "## Integrity check\nFAILED with 2 error(s)" in readme and "'0.991' matches no number" in readme
    # the archive is unreachable: skipped with a warning, the run still finishes
    warnings = [e["message"] for e in events(run_dir, "warning")]
    assert any("not published to the archive at http://127.0.0.1:9" in w for w in warnings)
    assert any("final report has 2 integrity error(s)" in w for w in warnings)
    assert final["archive_id"] is None


def test_an_accepted_report_is_published_to_the_archive_once(tmp_path, httpserver, fixtures_dir, env):
    from labcoat.archive.client import ArchiveClient
    from labcoat.archive.service import create_app

    from tests.test_archive_live import LiveServer

    recorded_arxiv(fixtures_dir, httpserver)
    script = ReportScript()
    with LiveServer(create_app(tmp_path / "archive")) as archive, ScriptedProvider(script) as sp:
        config = lab_config(sp, httpserver, phases=PHASES, report={"compile_latex": False},
                            archive={"url": archive.url, "publish": True},
                            budget={"paper_steps": 0, "refinement_rounds": 0})
        run_dir = create_run(config, tmp_path / "run")
        execute(run_dir, factory_for([]), attach=attach)
        assert state(run_dir).state == "finished"
        execute(run_dir, factory_for([]), attach=attach, resumed=True)  # the upload is replayed, not repeated
        with open_store(run_dir, readonly=True) as store:
            outcome = store.artefact("report_refinement")["data"]
        with ArchiveClient(archive.url) as client:
            listed = client.list()
            stored = client.fetch(outcome["archive_id"])
    assert script.decide_prompts == []  # no rounds: accepted without asking
    assert listed["total"] == 1 and outcome["archive_id"].startswith("archive:")
    assert stored["title"] == "Does standardising features change the ranking of classifiers?"
    assert stored["metrics"] == {"accuracy (dev)": 0.9649122807, "accuracy (test)": 0.9561}
    assert stored["run_id"] == "run" and "standardisation" in stored["abstract"]
    assert [e["archive_id"] for e in events(run_dir, "published")] == [outcome["archive_id"]]


def summary_run(tmp_path, httpserver, fixtures_dir, lies: str):
    """The report phases with no edit steps or rounds, the Professor's summary scripted by `lies`."""
    recorded_arxiv(fixtures_dir, httpserver)
    script = ReportScript(summary_lies=lies)
    with ScriptedProvider(script) as sp:
        config = lab_config(sp, httpserver, phases=PHASES, report={"compile_latex": False},
                            budget={"paper_steps": 0, "refinement_rounds": 0})
        run_dir = create_run(config, tmp_path / "run")
        execute(run_dir, factory_for([]), attach=attach)
    return script, run_dir


def test_a_summary_that_keeps_stating_unrecorded_numbers_keeps_none_of_them_in_any_field(
        tmp_path, httpserver, fixtures_dir, env):
    script, run_dir = summary_run(tmp_path, httpserver, fixtures_dir, "always")
    assert state(run_dir).state == "finished"
    assert len(script.summary_prompts) == 2  # refused once
    refused = script.summary_prompts[1].split("Refused:")[1]
    assert all(n in refused for n in ("2.953678", "4.662773", "0.8812", "0.0412")) and "5.0" not in refused
    readme = (run_dir / "README.md").read_text()
    assert not any(n in readme for n in ("2.953678", "4.662773", "0.8812", "0.0412"))
    # question and method fall back to the plan's; what the records support stays (the panel's mean is one)
    question = readme.split("## Question\n")[1].split("##")[0]
    assert question.strip() == plan(None).question
    assert "Dev accuracy 0.9649 (recorded in s1c0)." in readme and "mean score was 5.0/10" in readme
    warnings = [e["message"] for e in events(run_dir, "warning")]
    assert any("2 finding(s) or limitation(s) left out; its question and method replaced by the plan's" in w
               for w in warnings)


def test_a_summary_the_model_never_sends_leaves_a_readme_of_the_records_and_the_run_finished(
        tmp_path, httpserver, fixtures_dir, env):
    script, run_dir = summary_run(tmp_path, httpserver, fixtures_dir, "garbled")
    assert state(run_dir).state == "finished", state(run_dir).message
    assert script.summary_prompts  # it was asked, and retried
    readme = (run_dir / "README.md").read_text()
    assert readme.split("## Question\n")[1].split("##")[0].strip() == plan(None).question
    assert "Compare each classifier with and without StandardScaler." in readme and "qquestrue" not in readme
    assert "| accuracy | dev |" in readme  # the key results come from the records all the same
    assert "sent no valid summary, so the question and method below are the plan's" in readme
    assert "This summary was written by" not in readme
    warnings = [e["message"] for e in events(run_dir, "warning")]
    assert any("sent no valid README summary" in w for w in warnings)


def test_returning_to_report_writing_gives_the_writers_the_reviews(tmp_path, httpserver, fixtures_dir, env):
    recorded_arxiv(fixtures_dir, httpserver)
    script = ReportScript(decisions=[("revisit", "report_writing")])
    notes: list = []
    with ScriptedProvider(script) as sp:
        config = lab_config(sp, httpserver, phases=PHASES, report={"compile_latex": False},
                            budget={"paper_steps": 0, "refinement_rounds": 1})
        run_dir = create_run(config, tmp_path / "run")
        execute(run_dir, factory_for(notes), attach=attach)
    assert state(run_dir).state == "finished"
    assert len(notes) == 1  # the experiments did not run again
    starts = [e["attempt"] for e in events(run_dir, "phase_start")]
    assert starts == [0, 0, 0, 0, 0, 0, 0, 1, 1]  # writing and refinement ran a second time
    first, second = [s for s in script.writing_systems if "novelty: only one data set" not in s], \
        [s for s in script.writing_systems if "novelty: only one data set" in s]
    assert first and second and all("more than one data set" in s for s in second)
