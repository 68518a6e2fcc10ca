"""Run stores with realistic shapes for the dashboard's tests and benchmark (no tests here).

They are written through RunStore exactly as the workflow, the phases and the
mle-solver write them: events with positions, ledger rows per LLM call,
artefacts as the phases' pydantic models dump them, report files in the run dir.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from labcoat.artefacts import DataCode, DatasetSpec, LitReview, MetricSpec, MetricValue, PaperRecord, Plan, Results
from labcoat.config.schema import ResearchConfig
from labcoat.store import RunStore

PHASES = ("literature_review", "plan_formulation", "data_preparation", "running_experiments",
          "results_interpretation", "report_writing", "report_refinement")
SEED_CODE = """import json
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

X, y = load_iris(return_X_y=True)
Xtr, Xdev, ytr, ydev = train_test_split(X, y, test_size=0.3, random_state=0)
model = LogisticRegression(C=1.0, max_iter=200)
model.fit(Xtr, ytr)
acc = model.score(Xdev, ydev)
print("dev accuracy", acc)
json.dump({"metrics": [{"name": "accuracy", "value": acc, "split": "dev"}]}, open("metrics.json", "w"))
"""


def config(budget: float = 5.0, **extra) -> dict:
    cfg = ResearchConfig(topic="Does label smoothing help small tabular classifiers?",
                         budget={"dollars": budget}, models={"default": "gpt-4o-mini",
                                                              "roles": {"reviewer": "claude-3-5-haiku"}}, **extra)
    return cfg.model_dump(mode="json")


def new_run(root: Path, name: str, cfg: dict | None = None) -> RunStore:
    store = RunStore(root / name)
    store.create_run(name, (cfg or config())["topic"], cfg or config(), "0.1.0")
    store.log("started", "started by pid 1")
    return store


class EventWriter:
    def __init__(self, store: RunStore):
        self.store, self.pos = store, 0

    def emit(self, phase: str | None, kind: str, payload: dict) -> None:
        self.store.put_event(self.pos, phase, kind, payload)
        self.pos += 1


def journal(n: int) -> list[dict]:
    """`n` mle-solver nodes: a seed, then edits of earlier good nodes, some failing and repaired."""
    nodes: list[dict] = []
    for i in range(n):
        parent = None if i == 0 else nodes[(i - 1) // 2]["id"]
        base = SEED_CODE if parent is None else next(x["code"] for x in nodes if x["id"] == parent)
        failed = i % 9 == 4
        code = re.sub(r"C=[0-9.]+", f"C={1.0 + i / 10:.1f}", base) if i % 2 else base + f"# variant {i}\n"
        if failed:
            code = code.replace("model.fit", "model.fitt")
        acc = None if failed else round(0.80 + (i % 17) / 100, 4)
        nodes.append({
            "id": f"s{i // 2}c{i % 2}", "step": i // 2, "candidate": i % 2,
            "operation": "seed" if i == 0 else ("edit" if i % 3 else "replace"),
            "code": code, "parent": parent, "repair_of": None,
            "status": "failed" if failed else "ok", "exit_code": 1 if failed else 0, "killed_by": None,
            "stdout": "" if failed else f"dev accuracy {acc}\n",
            "stderr": "AttributeError: 'LogisticRegression' object has no attribute 'fitt'" if failed else "",
            "duration_s": 1.5 + i % 5, "figures": ["figures/confusion.png"] if i == 0 else [],
            "metrics": [] if failed else [{"name": "accuracy", "value": acc, "split": "dev"}],
            "metric": acc, "reward": None if failed else round(0.5 + (i % 5) / 10, 2),
            "reward_rationale": "" if failed else "sound protocol; dev split only",
            "refusal": "", "reflection": f"step {i // 2}: C matters more than scaling <b>not html</b>",
        })
    return nodes


def write_figure(run_dir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (run_dir / "figures").mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(3, 2.4))
    ax.imshow([[14, 1], [2, 13]], cmap="Blues")
    ax.set_title("confusion (dev)")
    fig.savefig(run_dir / "figures" / "confusion.png", dpi=60)
    plt.close(fig)


def write_report(run_dir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    with PdfPages(run_dir / "report.pdf") as pdf:
        for page, text in enumerate(["Label smoothing for small tabular classifiers", "Results: accuracy 0.9556"]):
            fig = plt.figure(figsize=(8.27, 11.69))
            fig.text(0.1, 0.9, text, fontsize=18)
            fig.text(0.1, 0.85, f"page {page + 1}", fontsize=12)
            pdf.savefig(fig)
            plt.close(fig)
    (run_dir / "report.tex").write_text("\\documentclass{article}\\begin{document}Results\\end{document}\n")
    (run_dir / "references.bib").write_text("@article{muller2019,title={When does label smoothing help?}}\n")
    (run_dir / "reviews.json").write_text(json.dumps({"reviews": [
        {"reviewer": "reviewer 1", "overall": 6, "soundness": 3, "summary": "Clear, small study.",
         "weaknesses": ["one dataset", "no variance across seeds"], "decision": "accept"},
        {"reviewer": "reviewer 2", "scores": {"overall": 4, "clarity": 3}, "summary": "Needs baselines.",
         "decision": "reject"},
    ], "average_overall": 5.0}))
    (run_dir / "integrity.json").write_text(json.dumps({"ok": False, "findings": [
        {"number": "0.9556", "where": "results, line 12", "found_in": "s3c1 stdout", "ok": True},
        {"number": "97.1", "where": "abstract", "found_in": None, "ok": False},
    ]}))


PHASE_EVENTS = {
    "literature_review": [("llm_reply_error", {"key": "literature_review#0/step/1/phd/llm", "role": "phd",
                                               "model": "gpt-4o-mini", "kind": "no_command",
                                               "feedback": "Reply with exactly one command."}),
                          ("turn_skipped", {"key": "literature_review#0/step/1/phd", "role": "phd",
                                            "error": "gpt-4o-mini sent no valid command in 2 attempts"})],
    "plan_formulation": [("plan", {"question": "Does label smoothing improve dev accuracy?",
                                   "metrics": ["accuracy"]}),
                         ("gate", {"decision": "revise", "notes": "add a majority baseline"}),
                         ("copilot_revision", {"revision": 1, "next_attempt": 1, "refinement_rounds_used": 0})],
    "running_experiments": [("mle_seed", {"file": "seeds/logreg.py", "kind": "baseline"})],
    "report_writing": [("paper_search", {"section": "introduction", "query": "label smoothing",
                                         "added": ["muller2019"]}),
                       ("paper_draft", {"section": "introduction", "turn": 0, "refused": "unknown citations",
                                        "keys": ["smith2020"]}),
                       ("paper_draft", {"section": "introduction", "turn": 1, "lines": [40, 52]}),
                       ("paper_compile", {"key": "report_writing#0/paper/0", "ok": False,
                                          "errors": ["report.tex:12: Undefined control sequence \\foo"]}),
                       ("paper_compile", {"key": "report_writing#0/paper/0", "ok": True, "errors": []}),
                       ("paper_version", {"step": 0, "kept": True, "compiled": True, "integrity_errors": 1,
                                          "score": 5.0}),
                       ("figure_check", {"figure": "dev_accuracy.png", "model": "openai:gpt-4o-mini",
                                         "problems": ["the y axis has no label"]}),
                       ("paper_edit", {"step": 1, "attempt": 0, "refused": "the edit leaves \\begin{table} open"}),
                       ("paper_version", {"step": 1, "kept": False, "compiled": True, "integrity_errors": 2,
                                          "score": 4.0}),
                       ("paper_done", {"pdf": "report/report.pdf", "integrity_errors": 1, "score": 5.0}),
                       ("published", {"archive_id": "archive:000001", "url": "http://127.0.0.1:8765"})],
    "report_refinement": [("reviews", {"automated": True, "overall_mean": 5.0, "overall_spread": 1.0,
                                       "decision": "reject", "notice": "Automated reviews overrate papers.",
                                       "reviews": [{"reviewer": "reviewer 1", "overall": 6},
                                                   {"reviewer": "reviewer 2", "overall": 4}],
                                       "aggregate": {"overall": {"mean": 5.0, "spread": 1.0}},
                                       "skipped_reviewers": ["reviewer 3"]}),
                          ("refinement_decision", {"decision": "revisit", "phase": "report_writing",
                                                   "reason": "baselines are weak", "round": 0, "rounds_left": 1,
                                                   "copilot_revisions": 0}),
                          ("revisit", {"to": "report_writing", "notes": "weak baselines", "round": 1, "rounds": 1}),
                          ("refinement_decision", {"decision": "accept", "phase": "", "reason": "sound now",
                                                   "round": 1, "rounds_left": 0, "copilot_revisions": 0})],
}


def emit_search(ev: "EventWriter", nodes: list[dict]) -> None:
    """The mle-solver's events for a journal, as the solver emits them step by step."""
    for step in sorted({n["step"] for n in nodes}):
        batch = [n for n in nodes if n["step"] == step]
        for n in batch:
            ev.emit("running_experiments", "mle_node", {k: n.get(k) for k in (
                "id", "parent", "operation", "status", "metric", "refusal")})
        ok = [n for n in batch if n["status"] == "ok"]
        if ok:
            best = max(ok, key=lambda n: n["metric"])
            ev.emit("running_experiments", "mle_pool", {"step": step, "offered": best["id"], "outcome": "added",
                                                         "pool": [n["id"] for n in ok]})
        if len(ok) < len(batch):
            ev.emit("running_experiments", "mle_dropped", {"step": step, "nodes": [
                n["id"] for n in batch if n["status"] != "ok"]})


def finished_run(root: Path, name: str = "finished-run", *, turns: int = 6, nodes: int = 8,
                 report: bool = True, state: str = "finished", every_kind: bool = False) -> Path:
    """A run that went through every phase: dialogue, ledger, artefacts, journal, report files.

    With `every_kind`, each phase also emits the events its real code emits (every kind there is).
    """
    store = new_run(root, name)
    ev = EventWriter(store)
    run_dir = store.run_dir
    ev.emit(None, "run_start", {"topic": store.info().topic, "phases": list(PHASES)})
    per_phase = turns // len(PHASES)
    t = 0
    for phase in PHASES:
        ev.emit(phase, "phase_start", {"attempt": 0, "notes": []})
        for step in range(per_phase):
            role = "phd" if step % 2 == 0 else "postdoc"
            ev.emit(phase, "agent_turn", {"step": step, "role": role, "command": "dialogue",
                                          "text": f"{phase} step {step}: <script>alert('x')</script> let us test C"})
            ev.emit(phase, "lab_feedback", {"step": step, "text": f"tool output for step {step}"})
            store.put_ledger(f"{phase}#0/step/{step}/{role}/llm/0", phase=phase, role=role,
                             model="gpt-4o-mini" if role == "phd" else "claude-3-5-haiku",
                             input_tokens=1200, cached_tokens=300, output_tokens=250, dollars=0.0021, latency_s=1.3,
                             cache_write_tokens=0 if role == "phd" else 100)
            t += 1
        if every_kind:
            for kind, payload in PHASE_EVENTS.get(phase, []):
                ev.emit(phase, kind, payload)
            if phase == "running_experiments" and nodes:
                emit_search(ev, journal(nodes))
                ev.emit(phase, "mle_best", {"node": "s3c1", "metric": 0.9556, "reward": 0.7, "test": [
                    {"name": "accuracy", "value": 0.9333, "split": "test", "higher_is_better": True,
                     "source": "s3c1/test"}]})
            ev.emit(phase, "warning", {"message": f"{phase}: a warning the phase raised"})
        ev.emit(phase, "phase_end", {"attempt": 0, "artefact": phase})
    if every_kind:
        ev.emit(None, "run_end", {"warnings": len(PHASES)})
    store.put_artefact("literature_review", "LitReview", LitReview(target=2, steps_used=9, papers=[
        PaperRecord(id="1906.02629", title="When does label smoothing help?", authors=["R. Müller", "S. Kornblith"],
                    year=2019, url="https://arxiv.org/abs/1906.02629", summary="Label smoothing calibrates <i>networks</i>.",
                    bibtex_key="muller2019", bibtex="@article{muller2019,\n  title={When does label smoothing help?}\n}"),
        PaperRecord(id="x", title="A local note", url="javascript:alert(1)", summary="not a link",
                    bibtex_key="note", bibtex="@misc{note}"),
    ]).model_dump(mode="json"), phase="literature_review")
    store.put_artefact("plan_formulation", "Plan", Plan(
        question="Does label smoothing improve dev accuracy of logistic regression on iris?",
        hypotheses=["smoothing helps when classes overlap"], datasets=[DatasetSpec(name="iris", source="sklearn")],
        method="Compare C values and smoothing.", baselines=["majority class"],
        metrics=[MetricSpec(name="accuracy")], protocol="select on dev, test once").model_dump(mode="json"),
        phase="plan_formulation")
    store.put_artefact("data_preparation", "DataCode", DataCode(
        code="from sklearn.datasets import load_iris\nprint(load_iris().data.shape)", data_source="sklearn iris",
        data_version="1.4", sizes={"train": 105, "dev": 45}, splits=["train", "dev"],
        subsampling=["none"], output="(150, 4)", attempts=1).model_dump(mode="json"), phase="data_preparation")
    if nodes:
        write_figure(run_dir)
        store.put_artefact("running_experiments", "Results", Results(
            best_code=SEED_CODE, metrics=[MetricValue(name="accuracy", value=0.9556, source="s3c1")],
            test_metrics=[MetricValue(name="accuracy", value=0.9333, split="test", source="s3c1/test")],
            figures=["figures/confusion.png"], journal=journal(nodes)).model_dump(mode="json"),
            phase="running_experiments")
    if report:
        write_report(run_dir)
    store.set_state(state, phase="done" if state == "finished" else "report_writing",
                    message="finished: 40 effects live, 0 replayed" if state == "finished" else "boom")
    store.close()
    return run_dir


def wait_for(predicate, timeout: float = 10.0, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("condition not met in time")


class LiveServer:
    """The dashboard served by uvicorn on 127.0.0.1 on a free port, in a thread."""

    def __init__(self, app):
        import socket
        import threading

        import uvicorn

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    timeout_graceful_shutdown=1))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "LiveServer":
        self.thread.start()
        wait_for(lambda: self.server.started, timeout=15)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def sized_run(root: Path, name: str, events: int, nodes: int) -> Path:
    """A finished run whose transcript holds exactly `events` events (at least 15) and `nodes` journal nodes."""
    run_dir = finished_run(root, name, turns=0, nodes=nodes, report=False)
    store = RunStore(run_dir)
    have = store.db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    # the dialogue grows inside the experiments phase, as a long mle-solver search does
    start = store.db.execute("SELECT MAX(pos) FROM events").fetchone()[0] + 1
    for i in range(max(0, events - have)):
        payload = ({"step": i, "role": "ml_engineer", "command": "edit", "text": f"edit lines 3-5 (turn {i}) " * 20}
                   if i % 2 == 0 else {"step": i, "text": f"ran candidate {i}: dev accuracy 0.9{i % 10}" * 10})
        store.put_event(start + i, "running_experiments", "agent_turn" if i % 2 == 0 else "lab_feedback", payload)
        if i % 2 == 0:
            store.put_ledger(f"running_experiments#0/mle/{i}/llm", phase="running_experiments", role="ml_engineer",
                             model="gpt-4o-mini", input_tokens=3000, output_tokens=400, dollars=0.0007)
    store.close()
    return run_dir


def lab_group(root: Path, name: str = "group", *, labs: int = 2) -> Path:
    """A finished lab group: each lab published its paper; every later lab read and cited lab 1's paper."""
    from labcoat.run.labs import create_group

    cfg = ResearchConfig(topic="Does label smoothing help small tabular classifiers?", labs=labs,
                         budget={"dollars": 5.0}, models={"default": "gpt-4o-mini"})
    group = create_group(cfg, root / name)
    for lab in range(labs):
        run_dir = finished_run(group.root, group.run_dir(lab, 0).name, turns=7, nodes=4)
        store = RunStore(run_dir)
        pos = store.db.execute("SELECT MAX(pos) FROM events").fetchone()[0] + 1
        store.put_event(pos, "report_writing", "published", {"archive_id": f"archive:{lab + 1:06d}",
                                                              "url": "http://127.0.0.1:9"})
        store.put_event(pos + 1, "report_refinement", "reviews", {"overall_mean": 5.0 + lab, "reviews": []})
        if lab:
            review = store.artefact("literature_review")["data"]
            review["papers"].append(PaperRecord(id="archive:000001", title="Lab 1's paper", source="archive",
                                                summary="lab 1",
                                                bibtex_key="lab1paper", bibtex="@misc{lab1paper}").model_dump())
            store.put_artefact("literature_review", "LitReview", review, phase="literature_review")
            (run_dir / "report.tex").write_text("As lab 1 found \\citep{muller2019,lab1paper}.\n")
        store.close()
    return group.root


def text_of_html(html: str) -> str:
    """A page's text with tags dropped and white space folded, as a reader sees it."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


RUN_PAGES = ("", "/literature", "/plan", "/data", "/experiments", "/report", "/costs")
EVENT_ROW = re.compile(r'<li class="ev [^"]*" id="ev-\d+">(.*?)</li>\s*(?=<li class="ev|</ol>)', re.S)
RAW = re.compile(r'<details class="raw">.*?</details>|<pre class="code">.*?</pre>', re.S)
JSON_TEXT = re.compile(r"""[{\[]\s*(&#34;|&quot;|["'])\w+(&#34;|&quot;|["'])\s*:""")


def json_event_lines(client, ref: str) -> tuple[list[str], int]:
    """Event rows on any page of run `ref` whose visible text holds a JSON object, and how many rows were read."""
    phases = re.findall(r'href="/runs/[^/"]+/phases/(\w+)"', client.get(f"/runs/{ref}").text)
    bad, rows = [], 0
    for path in [*RUN_PAGES, *(f"/phases/{p}" for p in dict.fromkeys(phases))]:
        url = f"/runs/{ref}{path}"
        while url:
            html = client.get(url).text
            for row in EVENT_ROW.findall(html):
                rows += 1
                # the raw toggle is closed by default; program text an agent sent is shown as code
                shown = text_of_html(RAW.sub("", row))
                if JSON_TEXT.search(shown):
                    bad.append(f"{path}: {shown[:200]}")
            more = re.search(r'href="(/runs/[^"]+/phases/\w+\?after=\d+[^"]*)"', html)
            url = more.group(1).replace("&amp;", "&") if more and "/phases/" in path else None
    return bad, rows
