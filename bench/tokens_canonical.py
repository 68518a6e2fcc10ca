"""Input tokens of one canonical research run, per phase, counted with o200k_base as sent.

One fixed full run through labcoat's real pipeline (real phases, LLM layer,
run store, sandbox, scikit-learn, LaTeX) against the scripted provider on loopback, model
openai:gpt-4o: the literature review reads 5 papers once each in full text
(the recorded neural-fingerprints paper served for every id) and adds them;
4 planning turns then the plan; data preparation; 3 mle-solver steps of 2
candidates; interpretation; the paper-solver with 5 edit steps; 3 reviewers
and the refinement decision.

Every request the provider answered is counted as the provider sees it:
the messages (4 tokens of framing each, o200k_base over the text) plus the
tool definitions or response schema (their compact JSON). "Cacheable" is
the share of input an OpenAI-style prompt cache could bill at the cached
price: the longest token prefix shared with an earlier request of the same
role, when at least 1,024 tokens, in steps of 128 (tools first, then the
messages in order). Dollars: gpt-4o's input and cached-input prices from
genai-prices.

Prints a table per phase, the totals, then `ratio: X` last = total input
tokens now / START_TOTAL, this script's count on the code as it stood
before the prompts were laid out for caching (recorded below).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from pytest_httpserver import HTTPServer  # noqa: E402

from labcoat.llm.presets import parse_model  # noqa: E402
from labcoat.llm.pricing import Pricer  # noqa: E402
from labcoat.llm.types import Usage  # noqa: E402
from labcoat.phases import default_workflow  # noqa: E402
from labcoat.run.runner import create_run, execute  # noqa: E402
from labcoat.run.services import attach  # noqa: E402
from labcoat.store import open_store  # noqa: E402
from tests.support import full_lab  # noqa: E402
from tests.support.lab_services import LabScript, lab_config, recorded_arxiv, retrieved_ids  # noqa: E402
from tests.support.lab_policies import reply_command  # noqa: E402
from tests.support.mle_policies import assess  # noqa: E402
from tests.support.scripted_provider import ScriptedProvider, scripted_env  # noqa: E402

import o200k  # noqa: E402

START_TOTAL = 107_916  # this script on the code before the cache layout (69 calls, 39% cacheable, $0.217)
PHASES = ["literature_review", "plan_formulation", "data_preparation", "running_experiments",
          "results_interpretation", "report_writing", "report_refinement"]
FIXTURES = ROOT / "tests" / "fixtures"
MIN_PREFIX, BLOCK = 1024, 128
MODEL = "openai:gpt-4o"


# -- the lab's answers ---------------------------------------------------------
class Literature:
    """Read each retrieved paper's opening in full text, then add it; five papers. The agent remembers what it
    read (the prompt's digest of older turns is bounded)."""

    def __init__(self):
        self.read: set[str] = set()

    def __call__(self, request, role: str, step: int):
        added = set(re.findall(r"Added (\S+) \(|added (\S+)", "\n".join(m["content"] for m in request.messages)))
        added = {a or b for a, b in added}
        paper = next(i for i in retrieved_ids(request) if i not in added)
        if paper not in self.read and "full_text" in request.command_names:
            self.read.add(paper)
            return reply_command("full_text", paper_id=paper, section="")
        return reply_command("add_paper", paper_id=paper,
                             summary="Learns molecular fingerprints with graph convolutions; compares against "
                                     "fixed circular fingerprints on solubility, drug efficacy and photovoltaic data.")


def planning(request, role: str, step: int):
    if "plan" in request.command_names and step >= 5:
        return reply_command("plan", **full_lab.PLAN)
    return reply_command("dialogue", text=(f"Step {step}: we compare logistic regression, an RBF SVM and a random forest with and "
                                           "without standardisation on three bundled data sets, selecting on dev "
                                           "accuracy and touching the test split once at the end."))


def experiments(request, role: str, step: int):
    names = request.command_names
    if names == ["score"]:
        return reply_command("score", score=0.7, rationale="Dev-only selection on the plan's metric; measured.")
    if names == ["reflect"]:
        return reply_command("reflect", text="Scaling matters for the SVM; keep the dev protocol.")
    if names == ["assess"]:
        return assess(request, 0.7, "Dev-only selection on the plan's metric; measured.",
                      "Scaling matters for the SVM; keep the dev protocol.")
    return full_lab.experiments(request, role, step)


def data_prep(request, role: str, step: int):
    if role == "sw_engineer" and step >= 5:
        return full_lab.data_prep(request, role, step)
    return reply_command("dialogue", text=(f"Step {step}: load the three bundled data sets, split 60/20/20 stratified with seed 0, "
                                           "save each as an npz with its split sizes in a manifest."))


def interpretation(request, role: str, step: int):
    if role == "postdoc" and step >= 3:
        return full_lab.interpretation(request, "postdoc", step)
    return reply_command("dialogue", text=(f"Step {step}: the SVM gains most from standardisation; the forest is unchanged, as "
                                           "tree splits ignore monotone rescaling."))


def writing(request, role: str, step: int):
    """Drafts as the full lab does; each edit step rewrites the next placeholder sentence, or adds one."""
    text = request.last_user
    if full_lab.SECTION.search(text):
        return full_lab.writing(request, role, step)
    lines = {int(n): line for n, line in full_lab.NUMBERED.findall(text)}
    target = next((n for n, line in lines.items() if "This section covers the" in line), None)
    if target is None:
        target = next(n for n, line in lines.items() if r"\bibliographystyle" in line)
        return reply_command("edit", start=target, end=target - 1,
                             body="We release the code and the recorded metrics with the paper.\n")
    return reply_command("edit", start=target, end=target,
                         body=f"Step {step}: we state what this part of the study shows, with the recorded numbers.")


def provider_policy():
    script = LabScript({
        "literature_review": Literature(), "plan_formulation": planning, "data_preparation": data_prep,
        "running_experiments": experiments, "results_interpretation": interpretation,
        "report_writing": writing, "report_refinement": full_lab.refinement,
    })

    def answer(request):
        if request.command_names == ["review"]:
            return full_lab.review(request)
        if request.command_names == ["figure_check"]:
            return full_lab.look_at_figure(request)
        return script(request)
    return answer


def serve_papers(server: HTTPServer) -> None:
    """arXiv's API from the recordings; every paper's e-print is the recorded neural-fingerprints source."""
    recorded_arxiv(FIXTURES, server)
    tex = (FIXTURES / "latex" / "neural_fingerprints_1509.09292" / "paper_for_arxiv.tex").read_bytes()
    server.expect_request(re.compile(r"^/e-print/.*")).respond_with_data(gzip.compress(tex),
                                                                          content_type="application/gzip")


# -- counting ------------------------------------------------------------------
def sequence(enc, body: dict) -> tuple[list[int], int]:
    """(the request's tokens in the order a provider caches them, how many of them are tool/schema definitions)."""
    schema = body.get("tools") or (body.get("response_format") or {}).get("json_schema")
    defs = enc.encode(json.dumps(schema, separators=(",", ":"), ensure_ascii=False)) if schema else []
    tokens = list(defs)
    system = body.get("system")  # Anthropic's top-level system prompt; OpenAI's is the first message
    if system:
        text = system if isinstance(system, str) else "\n".join(b.get("text", "") for b in system)
        tokens += enc.encode("<|system|>") + enc.encode(text) + enc.encode("<|end|>")
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, list):
            content = "\n".join(part.get("text", "") for part in content if part.get("type") == "text")
        tokens += enc.encode(f"<|{message['role']}|>") + enc.encode(content or "") + enc.encode("<|end|>")
    return tokens, len(defs)


def cacheable(tokens: list[int], earlier: list[list[int]]) -> int:
    best = 0
    for other in earlier:
        n = min(len(tokens), len(other))
        i = 0
        while i < n and tokens[i] == other[i]:
            i += 1
        best = max(best, i)
    return 0 if best < MIN_PREFIX else MIN_PREFIX + (best - MIN_PREFIX) // BLOCK * BLOCK


def reported(pricer: Pricer, ref, ledger: list[dict]) -> str:
    """What the scripted provider reported and the ledger holds: its caching follows the model's service
    (OpenAI's automatic prefixes, Anthropic's marked breakpoints), its tokens are ~4 characters."""
    sent = sum(r["input_tokens"] for r in ledger)
    read = sum(r["cached_tokens"] for r in ledger)
    written = sum(r["cache_write_tokens"] for r in ledger)
    bill = sum(pricer.dollars(ref, Usage(input_tokens=r["input_tokens"], cached_tokens=r["cached_tokens"],
                                         cache_write_tokens=r["cache_write_tokens"])) for r in ledger)
    plain = pricer.dollars(ref, Usage(input_tokens=sent))
    return (f"as the provider reported ({ref.id}; ~4 characters a token): {sent:,} input, {read:,} read from "
            f"cache ({read / max(sent, 1):.0%}), {written:,} written; input bill ${bill:.3f} (uncached ${plain:.3f})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dump", type=Path, help="write every request's messages here, one file per call")
    parser.add_argument("--calls", action="store_true", help="also print each call: phase, role, input, cacheable")
    parser.add_argument("--model", default=MODEL, help=f"the run's model (default {MODEL}); e.g. "
                        "anthropic:claude-sonnet-4-6 to see what its marked breakpoints are billed")
    args = parser.parse_args()
    enc = o200k.encoding()
    os.environ.update(scripted_env())  # every preset's key variable, set to the scripted provider's key
    with tempfile.TemporaryDirectory() as tmp, HTTPServer() as server, \
            ScriptedProvider(provider_policy()) as sp:
        os.environ["LABCOAT_CACHE_DIR"] = str(Path(tmp) / "cache")
        serve_papers(server)
        config = lab_config(sp, server, phases=PHASES, models={"default": args.model, "retries": 2},
                            report={"compile_latex": True},
                            budget={"lit_review_papers": 5, "mle_steps": 3, "mle_candidates": 2,
                                    "paper_steps": 5, "reviewers": 3, "refinement_rounds": 1,
                                    "dollars": 50})
        run_dir = create_run(config, Path(tmp) / "run")
        ctx = execute(run_dir, default_workflow, attach=attach)
        with open_store(run_dir, readonly=True) as store:
            info = store.info()
            ledger = sorted(store.ledger(), key=lambda row: row["ts"])
            reads = [e for e in store.events(kinds=["lab_feedback"]) if e["payload"].get("tool") == "full_text"]
        if info.state != "finished" or ctx.failure is not None:
            print(f"the canonical run did not finish: {info.message or ctx.failure}", file=sys.stderr)
            return 1
        answered = [r for r in sp.requests if r.status == 200]
    if len(ledger) != len(answered):
        print(f"{len(answered)} answered requests but {len(ledger)} ledger rows", file=sys.stderr)
        return 1
    rows: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    seen: dict[str, list[list[int]]] = defaultdict(list)
    if args.dump:
        shutil.rmtree(args.dump, ignore_errors=True)
    for n, (request, entry) in enumerate(zip(answered, ledger)):
        phase, role = entry["phase"], entry["role"]
        tokens, defs = sequence(enc, request.body)
        row = rows[phase]
        row["calls"] += 1
        row["input"] += len(tokens)
        row["schema"] += defs
        cached = cacheable(tokens, seen[role])
        row["cacheable"] += cached
        seen[role].append(tokens)
        if args.calls:
            print(f"{n:>3} {phase:<24}{role:<13}{len(tokens):>7,}{cached:>7,}  {', '.join(request.command_names)}")
        if args.dump:
            args.dump.mkdir(parents=True, exist_ok=True)
            (args.dump / f"{n:03d}-{phase}-{role}.txt").write_text(
                f"=== system ===\n{request.system}\n\n" +
                "\n\n".join(f"=== {m['role']} ===\n{m['content']}" for m in request.messages) +
                f"\n\n=== tools ===\n{', '.join(request.command_names)}\n", encoding="utf-8")
    pricer = Pricer()
    ref = parse_model(MODEL)
    print(f"papers read in full text: {len(reads)}")
    print(f"{'phase':<24}{'calls':>6}{'input':>10}{'schema':>9}{'cacheable':>11}")
    total = defaultdict(int)
    for phase in PHASES:
        row = rows.get(phase, {})
        for k, v in row.items():
            total[k] += v
        share = row.get("cacheable", 0) / row["input"] if row.get("input") else 0.0
        print(f"{phase:<24}{row.get('calls', 0):>6}{row.get('input', 0):>10,}{row.get('schema', 0):>9,}"
              f"{share:>10.0%}")
    share = total["cacheable"] / total["input"]
    dollars = pricer.dollars(ref, Usage(input_tokens=total["input"], cached_tokens=total["cacheable"]))
    print(f"{'total':<24}{total['calls']:>6}{total['input']:>10,}{total['schema']:>9,}{share:>10.0%}")
    print(f"input bill at gpt-4o prices with cached input: ${dollars:.3f} "
          f"(uncached ${pricer.dollars(ref, Usage(input_tokens=total['input'])):.3f})")
    print(reported(pricer, parse_model(args.model), ledger))
    print(f"ratio: {total['input'] / START_TOTAL:.2f}" if START_TOTAL else f"ratio: n/a (start total not set; "
          f"this run: {total['input']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
