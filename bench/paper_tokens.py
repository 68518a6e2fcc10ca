"""Input tokens per paper-solver call: labcoat's bounded prompts vs the whole-context approach.

A scripted run of report_writing (stand-in earlier phases with a 12-paper
literature review, an experiment program and recorded metrics; LaTeX
compilation off, as it changes no prompt but the error feedback) records
every request the paper-solver sent. Each is then sent again to the same
loopback provider twice, in one run:
  labcoat - the request as the paper-solver sent it;
  whole   - the same system prompt, tools and instruction, with the context
            Agent Laboratory gives every writing call: the paper so far,
            20,000 characters of literature, the code and the results
            (reviewer calls see the paper alone on both sides).
Token counts are the provider's (~4 characters a token, as for both sides).

Prints a table per kind of call (draft, edit, score), the drafting calls of
the first and last section (flat), then `ratio: X` (labcoat / whole) last.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from labcoat.artefacts import (DataCode, Interpretation, LitReview, MetricSpec, MetricValue, PaperRecord,  # noqa: E402
                               Plan, Results)
from labcoat.phases import available_phases  # noqa: E402
from labcoat.report.lines import set_section  # noqa: E402
from labcoat.report.scaffold import SECTION_KEYS, render_scaffold  # noqa: E402
from labcoat.run.runner import create_run, execute  # noqa: E402
from labcoat.run.services import attach  # noqa: E402
from labcoat.store import open_store  # noqa: E402
from labcoat.tools import bibtex  # noqa: E402
from labcoat.workflow import Phase, Workflow  # noqa: E402
from tests.support.scripted_provider import ScriptedProvider, reply_command, scripted_config, scripted_env  # noqa: E402

LITERATURE_CHARS = 20_000
SENTENCE = ("Standardising the features changes the scale the optimiser sees, so linear models and kernels move "
            "while tree ensembles, which split on order, do not; the recorded dev accuracy is 0.9649. ")
NUMBERED = re.compile(r"^\s*(\d+)\| (.*)$", re.MULTILINE)
CODE = "\n".join(
    ["import json, os", "import numpy as np", "from sklearn.linear_model import LogisticRegression",
     "from sklearn.ensemble import RandomForestClassifier", "from sklearn.svm import SVC",
     "from sklearn.preprocessing import StandardScaler", "from sklearn.pipeline import make_pipeline", ""]
    + [f"def run_{i}(X_train, y_train, X_dev, y_dev):\n    model = make_pipeline(StandardScaler(), "
       f"LogisticRegression(C={i}.0, max_iter=500))\n    model.fit(X_train, y_train)\n"
       f"    return float((model.predict(X_dev) == y_dev).mean())\n" for i in range(1, 25)]
    + ["metrics = [{'name': 'accuracy', 'value': run_1(*np.load('d.npz').values()), 'split': 'dev'}]",
       "json.dump(metrics, open('metrics.json', 'w'))"])


def papers() -> list[PaperRecord]:
    out = []
    for i in range(12):
        meta = {"id": f"2301.{10000 + i}v1", "title": f"Feature scaling study number {i} on tabular benchmarks",
                "authors": [f"Author{i} Lastname{i}"], "published": f"20{10 + i}-01-01"}
        out.append(PaperRecord(id=meta["id"], title=meta["title"], authors=meta["authors"], year=2010 + i,
                               summary=(f"Paper {i}: " + SENTENCE * 4)[:700], bibtex_key=bibtex.cite_key(meta),
                               bibtex=bibtex.entry(meta)))
    return out


def stand_ins() -> dict:
    results = Results(best_code=CODE, metrics=[MetricValue(name="accuracy", value=0.9649, source="s1c0")],
                      test_metrics=[MetricValue(name="accuracy", value=0.9561, split="test", source="s1c0/test")])
    return {
        "literature_review": lambda ctx: LitReview(papers=papers(), target=12),
        "plan_formulation": lambda ctx: Plan(question="Does standardising features change classifier rankings?",
                                             hypotheses=["It helps linear models only."], method=SENTENCE * 3,
                                             metrics=[MetricSpec(name="accuracy")], protocol="dev, then test once"),
        "data_preparation": lambda ctx: DataCode(code=CODE[:1500], sizes={"train": 341, "dev": 114}),
        "running_experiments": lambda ctx: results,
        "results_interpretation": lambda ctx: Interpretation(text=SENTENCE * 6, claims=["It helps linear models."]),
    }


def policy(request):
    text = request.last_user
    if request.command_names == ["review"]:
        return reply_command("review", summary="s", strengths=["a"], weaknesses=["one data set"], originality=2,
                             quality=2, clarity=3, significance=2, soundness=2, presentation=3, contribution=2,
                             questions=["q"], limitations="l", ethics="none", overall=4, confidence=3,
                             decision="reject")
    if "Draft the " in text:
        return reply_command("section", body="\n".join([SENTENCE.strip()] * 6))
    lines = {int(n): line for n, line in NUMBERED.findall(text)}
    at = next(n for n, line in lines.items() if r"\bibliographystyle" in line)
    return reply_command("edit", start=at, end=at - 1, body=SENTENCE.strip() + "\n")


def paper_so_far(title: str, drafted: list[str]) -> str:
    tex = render_scaffold(title, "labcoat")
    for key in drafted:
        tex = set_section(tex, key, "\n".join([SENTENCE.strip()] * 6))
    return tex


def tokens(client: httpx.Client, body: dict) -> int:
    response = client.post("/chat/completions", json=body)
    response.raise_for_status()
    return int(response.json()["usage"]["prompt_tokens"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4, help="edit steps (budget.paper_steps)")
    args = parser.parse_args()
    fixed = stand_ins()
    order = list(fixed) + ["report_writing"]
    with ScriptedProvider(policy) as sp, tempfile.TemporaryDirectory() as tmp:
        config = scripted_config(sp, model="openai:gpt-4o-mini", phases=order, report={"compile_latex": False},
                                 budget={"paper_steps": args.steps}, topic="feature scaling and classifier rankings")
        env = scripted_env(sp)
        os.environ.update(env)
        run_dir = create_run(config, Path(tmp) / "run")
        real = available_phases()
        execute(run_dir, lambda c: Workflow([Phase(n, fixed[n]) if n in fixed else real[n] for n in c.phases]),
                attach=attach)
        with open_store(run_dir, readonly=True) as store:
            info = store.info()
        if info.state != "finished":
            print(f"the scripted run did not finish: {info.message}", file=sys.stderr)
            return 1
        sent = [r for r in sp.requests if r.status == 200]
        literature = "\n\n".join(f"{p.title}\n{p.summary}" for p in papers())
        literature = (literature * (LITERATURE_CHARS // len(literature) + 1))[:LITERATURE_CHARS]
        results = fixed["running_experiments"](None).table()
        title = "Does standardising features change classifier rankings?"
        drafting_order = [k for k in SECTION_KEYS if k != "abstract"] + ["abstract"]
        rows: dict[str, list[tuple[int, int]]] = {"draft": [], "edit": [], "score": []}
        drafts: list[tuple[str, int, int]] = []
        with httpx.Client(base_url=sp.base_url_openai, headers={"Authorization": f"Bearer {env['OPENAI_API_KEY']}"},
                          timeout=30) as client:
            for request in sent:
                user = request.last_user
                heading = re.search(r"Draft the (.+?) section", user)
                if heading:
                    kind = "draft"
                    key = heading.group(1).lower().replace(" ", "_")
                    paper = paper_so_far(title, drafting_order[:drafting_order.index(key)])
                else:
                    kind = "edit" if "Edit step" in user or "needs repair" in user else "score"
                    paper = ""  # an edit prompt holds the whole paper already, and so does a reviewer's
                whole_context = "\n\n".join(x for x in (paper, "Literature:\n" + literature, "Code:\n" + CODE,
                                                        "Results:\n" + results, user) if x)
                body = dict(request.body)
                messages = [dict(m) for m in body["messages"]]
                ours = tokens(client, {**body, "messages": messages})
                if kind != "score":  # both approaches show a reviewer the paper alone
                    messages[-1] = {"role": "user", "content": whole_context}
                whole = tokens(client, {**body, "messages": messages})
                rows[kind].append((ours, whole))
                if heading:
                    drafts.append((key, ours, whole))
    print(f"{'call':<8}{'n':>4}{'labcoat mean':>14}{'whole mean':>12}{'ratio':>8}")
    for kind, pairs in rows.items():
        if pairs:
            a, b = statistics.mean(p[0] for p in pairs), statistics.mean(p[1] for p in pairs)
            print(f"{kind:<8}{len(pairs):>4}{a:>14.0f}{b:>12.0f}{a / b:>8.2f}")
    first, last = drafts[0], drafts[-1]
    print(f"draft tokens, first section ({first[0]}) vs last ({last[0]}): labcoat {first[1]} -> {last[1]}, "
          f"whole {first[2]} -> {last[2]}")
    ours_all = [p[0] for pairs in rows.values() for p in pairs]
    whole_all = [p[1] for pairs in rows.values() for p in pairs]
    print(f"input tokens per step: labcoat {statistics.mean(ours_all):.0f}, whole context {statistics.mean(whole_all):.0f}")
    print(f"ratio: {sum(ours_all) / sum(whole_all):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
