"""Archive search latency at 1,000 stored papers: FTS5 (BM25), stored embeddings, and re-embedding per query.

Fills a fresh archive with N synthetic papers (deterministic, seeded), serves it
with uvicorn on a free loopback port and times searches through the HTTP API:
FTS5 always; when the `embed` extra is installed, semantic search over vectors
stored at upload, against re-embedding every paper for each query (how Agent
Laboratory's archive answered a search; timed on a sample, scaled). Prints a table, then
`fts_search_ms: X` (median FTS5 search over HTTP) on the last line.
"""

from __future__ import annotations

import argparse
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from labcoat.archive import embed
from labcoat.archive.service import create_app
from labcoat.archive.store import ArchiveStore, embedding_text
from labcoat.archive.validate import Upload

TERMS = ("transformer attention warmup learning rate schedule grokking modular arithmetic weight decay pruning "
         "filter sparsity distillation teacher student mixup augmentation tabular gradient boosting contrastive "
         "pretraining tokenizer vocabulary retrieval augmented generation chain thought prompting reasoning math "
         "word problems calibration temperature scaling label smoothing dropout batch normalisation layer norm "
         "residual convolution pooling graph neural message passing reinforcement policy value reward shaping "
         "curriculum replay buffer exploration bandit bayesian optimisation hyperparameter search evolutionary "
         "quantisation int8 low rank adapter fine tuning instruction following preference optimisation reward "
         "model benchmark contamination robustness adversarial perturbation certified defence fairness bias "
         "privacy differential federated averaging clients compression sketch hashing embedding nearest "
         "neighbour index clustering kmeans spectral manifold diffusion denoising score matching sampler "
         "ode solver flow matching variational autoencoder latent prior posterior collapse").split()
FILLER = "we study show that the results on a of with and for by in this paper our method improves".split()


def synthetic_papers(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    papers = []
    for i in range(n):
        words = rng.sample(TERMS, 6)
        title = " ".join(w.capitalize() for w in words[:4]) + f" study {i}"
        abstract = " ".join(rng.choice(FILLER + words + rng.sample(TERMS, 3)) for _ in range(90))
        sections = "\n".join(f"\\section{{Part {k}}}\n" + " ".join(rng.choice(FILLER + TERMS) for _ in range(300))
                             for k in range(4))
        tex = (f"\\documentclass{{article}}\\title{{{title}}}\\begin{{document}}\\maketitle\n"
               f"\\begin{{abstract}}{abstract}\\end{{abstract}}\n{sections}\n\\end{{document}}\n")
        papers.append({"metadata": {"title": title, "abstract": abstract, "topic": words[0], "metrics": {"acc": i},
                                    "run_id": f"bench-{i}", "lab": f"lab-{i % 4}"},
                       "tex": tex.encode(), "query": " ".join(words[:3])})
    return papers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def time_queries(http: httpx.Client, queries: list[tuple[str, int]], mode: str) -> tuple[list[float], float]:
    """Milliseconds per search, and the share of queries whose source paper came back in the top 10."""
    times, hits = [], 0
    for query, number in queries:
        started = time.perf_counter()
        resp = http.get("/search", params={"q": query, "limit": 10, "mode": mode})
        times.append((time.perf_counter() - started) * 1000)
        resp.raise_for_status()
        hits += any(r["number"] == number for r in resp.json()["results"])
    return times, hits / len(queries)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--semantic-queries", type=int, default=50)
    parser.add_argument("--embeddings", choices=("auto", "off"), default="auto")
    parser.add_argument("--reembed-sample", type=int, default=100,
                        help="papers re-embedded to time the re-embed-per-query side (scaled to --papers)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    embedder = embed.choose(args.embeddings)
    papers = synthetic_papers(args.papers, args.seed)
    rows: list[tuple[str, int, float, float, str]] = []
    with tempfile.TemporaryDirectory(prefix="labcoat-bench-archive-") as tmp:
        root = Path(tmp) / "archive"
        store = ArchiveStore(root)
        vectors = [None] * len(papers)
        embed_s = 0.0
        if embedder is not None:
            texts = [embedding_text(p["metadata"]["title"], p["metadata"]["abstract"]) for p in papers]
            embedder.encode(texts[:2])  # load the model outside the timing
            started = time.perf_counter()
            vectors = [v.tobytes() for v in embedder.encode(texts)]
            embed_s = time.perf_counter() - started
        started = time.perf_counter()
        for paper, vector in zip(papers, vectors):
            store.add(Upload(metadata=paper["metadata"], files={"tex": paper["tex"]}), vector=vector,
                      model=embedder.model if embedder else None)
        store_s = time.perf_counter() - started

        rng = random.Random(args.seed + 1)
        picks = [rng.randrange(len(papers)) for _ in range(args.queries)]
        queries = [(papers[i]["query"], i + 1) for i in picks]
        server = uvicorn.Server(uvicorn.Config(create_app(root, embedder=embedder), host="127.0.0.1",
                                               port=free_port(), log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            if not thread.is_alive():
                print("archive server did not start", file=sys.stderr)
                return 1
            time.sleep(0.02)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{server.config.port}", timeout=120) as http:
                time_queries(http, queries[:5], "fts")  # warm the connection and the page cache
                fts_ms, fts_hit = time_queries(http, queries, "fts")
                rows.append(("fts5 bm25 (HTTP)", len(queries), *percentiles(fts_ms), f"{fts_hit:.2f}"))
                if embedder is not None:
                    few = queries[:args.semantic_queries]
                    sem_ms, sem_hit = time_queries(http, few, "semantic")
                    rows.append(("stored vectors (HTTP)", len(few), *percentiles(sem_ms), f"{sem_hit:.2f}"))
        finally:
            server.should_exit = True
            thread.join(timeout=10)
        direct_ms = []
        for query, _ in queries:
            started = time.perf_counter()
            store.search_fts(query, limit=10)
            direct_ms.append((time.perf_counter() - started) * 1000)
        rows.append(("fts5 bm25 (in process)", len(queries), *percentiles(direct_ms), "-"))
        if embedder is not None:
            # Re-embedding is linear in the papers: time a sample, scale to the whole archive.
            sample = papers[:min(args.reembed_sample, len(papers))]
            texts = [embedding_text(p["metadata"]["title"], p["metadata"]["abstract"]) for p in sample]
            started = time.perf_counter()
            matrix = embed.stack([v.tobytes() for v in embedder.encode(texts)], None)
            embed.nearest(embedder.encode_one(queries[0][0]), list(range(1, len(sample) + 1)), matrix, 10)
            reembed_ms = (time.perf_counter() - started) * 1000 * len(papers) / len(sample)
            rows.append(("re-embed all per query*", 1, reembed_ms, reembed_ms, "-"))

    print(f"archive of {len(papers)} papers: stored in {store_s:.1f} s"
          + (f", embedded at upload in {embed_s:.1f} s ({embedder.model})" if embedder else
             " (embeddings: off or `embed` extra not installed)"))
    print(f"{'search':<26}{'queries':>8}{'p50 ms':>10}{'p95 ms':>10}{'hit@10':>8}")
    for name, count, p50, p95, hit in rows:
        print(f"{name:<26}{count:>8}{p50:>10.2f}{p95:>10.2f}{hit:>8}")
    fts_p50 = rows[0][2]
    if embedder is not None:
        sem_p50, reembed = rows[1][2], rows[-1][2]
        print(f"* {min(args.reembed_sample, len(papers))} papers re-embedded and timed, scaled to {len(papers)}")
        print(f"semantic speedup from vectors stored at upload: {reembed / sem_p50:.0f}x")
    print(f"fts_search_ms: {fts_p50:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
