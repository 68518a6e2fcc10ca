"""LaTeX compile time inside the sandbox against the same latexmk run directly, in one run.

The document is labcoat's own report scaffold with every section filled, a
metrics table, a figure and a bibliography (latexmk runs pdflatex, bibtex
and pdflatex again). Both sides compile a fresh scratch copy with the same
latexmk command and TeX settings; interleaved, median of N.
Target: the sandbox adds little to a compile that takes seconds anyway.

Usage: python bench/latex_sandbox.py [--runs 7] [--engine pdf]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from PIL import Image

from labcoat.report.scaffold import render_scaffold, write_report_dir
from labcoat.sandbox import sandbox_mode
from labcoat.tools.latex import ENGINE_FLAGS, _tex_env, compile_latex

BIB = """@article{vaswani2017attention, title={Attention Is All You Need}, author={Vaswani, Ashish and others},
journal={NeurIPS}, year={2017}}
"""


def document(root: Path) -> Path:
    body = "We study a classifier on tabular data \\citep{vaswani2017attention}. " * 40
    sections = {key: body for key in ("abstract", "introduction", "background", "related_work", "methods",
                                      "experimental_setup", "results", "discussion")}
    tex = render_scaffold("A benchmark report", sections=sections)
    figure = root / "accuracy.png"
    Image.linear_gradient("L").resize((300, 200)).save(figure)
    folder = root / "doc"
    write_report_dir(folder, tex, BIB, metrics=[{"name": "accuracy", "value": 0.9649, "split": "dev"}],
                     figures=[figure])
    return folder


def bare(folder: Path, engine: str) -> float:
    """latexmk on a scratch copy, as the user's own process, with the same TeX settings."""
    with tempfile.TemporaryDirectory(prefix="labcoat-bare-") as scratch:
        work = Path(scratch) / "doc"
        shutil.copytree(folder, work)
        env = {"PATH": os.environ["PATH"], "HOME": scratch, **_tex_env()}
        t = time.perf_counter()
        subprocess.run(["latexmk", "-norc", ENGINE_FLAGS[engine], "-interaction=nonstopmode", "-halt-on-error",
                        "-file-line-error", "-no-shell-escape", "report.tex"], cwd=work, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        return time.perf_counter() - t


def boxed(folder: Path, engine: str, out: Path) -> float:
    t = time.perf_counter()
    result = compile_latex(folder, "report.tex", engine=engine, out_dir=out, timeout=300)
    elapsed = time.perf_counter() - t
    assert result.ok, result.feedback()
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--engine", default="pdf", choices=sorted(ENGINE_FLAGS))
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="labcoat-bench-tex-"))
    try:
        folder = document(root)
        bares, boxes = [], []
        for i in range(args.runs + 1):
            b = bare(folder, args.engine)
            s = boxed(folder, args.engine, root / f"out{i}")
            if i:  # the first pair warms the page cache and TeX's font maps
                bares.append(b)
                boxes.append(s)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    bare_s, boxed_s = statistics.median(bares), statistics.median(boxes)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"sandbox mode: {sandbox_mode()}, engine: {args.engine}, runs: {args.runs}, load average: {load}")
    print(f"{'measure':<44}{'value':>10}")
    print(f"{'latexmk directly (median s)':<44}{bare_s:>10.2f}")
    print(f"{'latexmk in the sandbox, compile_latex (s)':<44}{boxed_s:>10.2f}")
    print(f"{'added (s)':<44}{boxed_s - bare_s:>10.2f}")
    print(f"ratio: {boxed_s / bare_s:.2f}")


if __name__ == "__main__":
    main()
