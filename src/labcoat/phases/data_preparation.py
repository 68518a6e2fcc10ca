"""Data preparation: the SW engineer and the ML engineer write the data code.

`submit_code` is accepted only when the program runs without error in the
sandbox. The accepted program's own output is the record: sizes come from
the `data/manifest.json` it writes (or are left empty), subsampling notes are
kept verbatim and must later be stated in the paper. Data sets named on the
Hugging Face Hub are fetched by the orchestrator before any program runs and
mounted read-only, because sandboxed programs have no network.
"""

from __future__ import annotations

from pathlib import Path

from labcoat.agents.commands import Dialogue, HFSearch, RunCode, SubmitCode
from labcoat.agents.dialogue import clip
from labcoat.agents.prompting import Prompts
from labcoat.artefacts import DataCode, Plan
from labcoat.workflow.context import RunContext
from labcoat.phases.common import PhaseTalk, lit_summary, plan_summary, system_for
from labcoat.phases.programs import run_program_effect
from labcoat.untrusted import UntrustedFileError, read_json

NAME = "data_preparation"
MAX_MANIFEST_BYTES = 4 * 1024 * 1024


def run(ctx: RunContext) -> DataCode:
    cap = ctx.config.budget.steps_for(NAME, 15)
    inputs = _prefetch(ctx)
    known = "\n\n".join(x for x in (plan_summary(ctx), lit_summary(ctx, 150)) if x)
    if inputs:
        known += "\n\nPrefetched data sets (read-only, under inputs/): " + ", ".join(inputs)
    prompts = Prompts()
    sw = system_for(ctx, prompts, "sw_engineer", [Dialogue, RunCode, HFSearch, SubmitCode], artefacts=known)
    ml = system_for(ctx, prompts, "ml_engineer", [Dialogue, RunCode, HFSearch], artefacts=known)
    talk = PhaseTalk(ctx, cap)
    attempts = 0

    def act(step: int, cmd) -> DataCode | None:
        if isinstance(cmd, HFSearch):
            _hf_search(ctx, talk, step, cmd)
        elif isinstance(cmd, RunCode):
            result = run_program_effect(ctx, ctx.key("step", step, "run_code"), cmd.code, inputs=inputs)
            talk.feedback(step, _describe(result), f"ran code: exit {result.get('exit_code')}", tool="run_code",
                          exit_code=result.get("exit_code"))
        elif isinstance(cmd, SubmitCode):
            return submit(step, cmd, "")
        return None

    def submit(step: int, cmd: SubmitCode, tag: str) -> DataCode | None:
        nonlocal attempts
        attempts += 1
        return _submit(ctx, talk, step, cmd, inputs, attempts, tag=tag)

    accepted = talk.converse([sw, ml], act)
    if accepted is not None:
        return accepted
    ctx.warn(f"data preparation reached its step cap ({cap}) without working code; "
             "the SW engineer gets three last chances to submit")
    accepted = talk.last_chances(sw, SubmitCode, "Submit working data code now with `submit_code`.", submit)
    if accepted is not None:
        return accepted
    return _fallback(ctx, talk, cap, inputs, attempts)


def _fallback(ctx: RunContext, talk: PhaseTalk, step: int, inputs: dict[str, str], attempts: int) -> DataCode:
    """No agent code ran: prepare the bundled data sets the plan names, and say so."""
    from labcoat.errors import LabcoatError
    from labcoat.phases import data_fallback

    plan = ctx.artefacts.get("plan_formulation")
    names = data_fallback.bundled_for(plan if isinstance(plan, Plan) else None, ctx.config.topic)
    if not names:
        raise LabcoatError("data preparation ended without a data program that runs, and no bundled data set "
                           "fits the plan; see `labcoat show RUN --phase data_preparation`, then resume with "
                           "notes (co-pilot) or another model")
    record = data_fallback.describe(names)
    ctx.warn("the agents' data code never ran; labcoat prepared scikit-learn's bundled data sets instead ("
             + ", ".join(names) + "); the report states this")
    fallback = SubmitCode(data_source=record.data_source, data_version=record.data_version,
                          subsampling=[], code=record.code)
    accepted = _submit(ctx, talk, step, fallback, inputs, attempts + 1, tag="fallback")
    if accepted is None:
        raise LabcoatError("data preparation failed, and so did labcoat's bundled-data fallback; "
                           "check the experiment environment with `labcoat doctor`")
    accepted.fallback = True
    return accepted


def _submit(ctx: RunContext, talk: PhaseTalk, step: int, cmd: SubmitCode, inputs: dict[str, str],
            attempts: int, tag: str = "") -> DataCode | None:
    key = ctx.key("step", step, "submit", *([tag] if tag else []))
    result = run_program_effect(ctx, key, cmd.code, inputs=inputs)
    if result.get("exit_code") != 0 or result.get("killed_by"):
        talk.feedback(step, "Refused: the program did not run cleanly.\n" + _describe(result),
                      f"submit refused: exit {result.get('exit_code')}", refused="failed_run")
        return None
    workdir = result.get("workdir") or ""
    if not any(str(f).startswith(f"{workdir}/data/") for f in result.get("files", [])):
        talk.feedback(step, "Refused: the program ran but wrote nothing under data/. Save the prepared splits "
                            "there (e.g. data/<name>.npz) so the experiments can read them.",
                      "submit refused: no data written", refused="no_data")
        return None
    manifest = _manifest(ctx, result)
    sizes = {str(k): int(v) for k, v in (manifest.get("splits") or {}).items() if isinstance(v, (int, float))}
    subsampling = [*cmd.subsampling, *[str(s) for s in manifest.get("subsampling", []) or []]]
    data = DataCode(
        code=cmd.code, data_source=cmd.data_source, data_version=cmd.data_version, sizes=sizes,
        splits=sorted(sizes), subsampling=list(dict.fromkeys(subsampling)),
        output=clip(result.get("stdout", ""), 4000), data_dir=_data_dir(result), attempts=attempts,
    )
    talk.feedback(step, f"Accepted the data code (splits: {sizes or 'not stated in data/manifest.json'}).",
                  "data code accepted", tool="submit_code", accepted=True)
    return data


def _describe(result: dict) -> str:
    parts = [f"exit code {result.get('exit_code')}"]
    if result.get("killed_by"):
        parts.append(f"killed by the {result['killed_by']} limit")
    out = result.get("stdout", "")
    err = result.get("stderr", "")
    text = ", ".join(parts)
    if out:
        text += f"\nstdout:\n{clip(out, 2500)}"
    if err:
        text += f"\nstderr:\n{clip(err, 2500)}"
    return text


def _manifest(ctx: RunContext, result: dict) -> dict:
    workdir = result.get("workdir")
    if not workdir:
        return {}
    base = ctx.run_dir / workdir
    # The program wrote this file: no link to the user's files, no FIFO, nothing huge or deeply nested.
    try:
        data = read_json(base / "data" / "manifest.json", MAX_MANIFEST_BYTES, root=base)
    except FileNotFoundError:
        return {}
    except UntrustedFileError as exc:
        ctx.warn(f"data/manifest.json written by the data code was ignored: {str(exc).replace(str(base) + '/', '')}")
        return {}
    return data if isinstance(data, dict) else {}


def _data_dir(result: dict) -> str | None:
    workdir = result.get("workdir")
    return str(Path(workdir) / "data") if workdir else None


def _hf_search(ctx: RunContext, talk: PhaseTalk, step: int, cmd: HFSearch) -> None:
    result = ctx.tools.hf_search(ctx.key("step", step, "hf_search"), cmd.query, limit=5)
    if "error" in result:
        talk.feedback(step, f"Hugging Face search failed: {result['error']}. Prefer scikit-learn's bundled "
                            "data sets (load_breast_cancer, load_wine, load_digits, ...), which need no network.",
                      tool="hf_search", error=result["error"])
        return
    lines = [f"Data sets for '{cmd.query}':"]
    for d in result.get("datasets", []):
        lines.append(f"- {d.get('id')} (downloads {d.get('downloads', '?')}): "
                     f"{clip(' '.join(str(d.get('description') or '').split()), 200)}")
    talk.feedback(step, "\n".join(lines), f"hf_search '{cmd.query}'", tool="hf_search")


def _prefetch(ctx: RunContext) -> dict[str, str]:
    """Fetch the plan's Hugging Face data sets before any program runs."""
    plan = ctx.artefacts.get("plan_formulation")
    if not isinstance(plan, Plan):
        return {}
    inputs: dict[str, str] = {}
    for i, ds in enumerate(plan.datasets):
        source = (ds.source or "").lower()
        if "hugging" not in source and not source.startswith("hf"):
            continue
        dest = ctx.artefact_dir("datasets") / ds.name.replace("/", "__")
        result = ctx.tools.prefetch(ctx.key("prefetch", i), ds.name, str(dest))
        if "error" in result:
            ctx.warn(f"could not fetch data set {ds.name} from the Hugging Face Hub: {result['error']}")
            continue
        inputs[ds.name.replace("/", "__")] = str(dest)
    return inputs
