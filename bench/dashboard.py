"""Does a run page slow down as the run grows? Render it for a small run and a large one.

The small run has 20 events and no journal; the large one 2,000 events (about
1,000 LLM calls in its ledger) and a mle-solver journal of 200 nodes. The run
page includes its spend plot; the costs and experiments pages their plots, and
the plots are also timed alone (what a live page refetches). Each page is rendered through the real app
(FastAPI + Jinja2, SQLite read-only), interleaved, and the median time is
compared. Last line: `ratio: X` = large-run page time / small-run page time.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastapi.testclient import TestClient  # noqa: E402

from labcoat.web import create_app  # noqa: E402
from tests.test_web_support import sized_run  # noqa: E402

REPS = 40
PAGES = ("", "/phases/running_experiments", "/experiments", "/costs", "/experiments/nodes/s50c0",
         "/plots/spend", "/plots/search")


def median_ms(client: TestClient, url: str, times: dict[str, list[float]]) -> None:
    started = time.perf_counter()
    r = client.get(url)
    elapsed = time.perf_counter() - started
    if r.status_code != 200:
        raise SystemExit(f"{url} answered {r.status_code}: {r.text[:300]}")
    times.setdefault(url, []).append(elapsed * 1000)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sized_run(root, "small", events=20, nodes=0)
        sized_run(root, "large", events=2000, nodes=200)
        client = TestClient(create_app(root), base_url="http://127.0.0.1")
        times: dict[str, list[float]] = {}
        for name in ("small", "large"):  # warm up templates and the page cache
            for page in PAGES:
                client.get(f"/runs/{name}{page}")
        for _ in range(REPS):
            for page in PAGES:
                for name in ("small", "large"):
                    if page.startswith("/experiments/nodes") and name == "small":
                        continue
                    median_ms(client, f"/runs/{name}{page}", times)
        sizes = {name: len(client.get(f"/runs/{name}").content) for name in ("small", "large")}
    print(f"{'page':<40} {'small run ms':>13} {'large run ms':>13} {'ratio':>7}")
    for page in PAGES:
        small = times.get(f"/runs/small{page}")
        large = statistics.median(times[f"/runs/large{page}"])
        if small:
            s = statistics.median(small)
            print(f"{'/runs/RUN' + page:<40} {s:>13.2f} {large:>13.2f} {large / s:>7.2f}")
        else:
            print(f"{'/runs/RUN' + page:<40} {'-':>13} {large:>13.2f} {'-':>7}")
    print(f"run page bytes: small {sizes['small']:,}, large {sizes['large']:,}")
    ratio = statistics.median(times["/runs/large"]) / statistics.median(times["/runs/small"])
    print(f"ratio: {ratio:.2f}")


if __name__ == "__main__":
    main()
