"""`labcoat reproduce`: re-run a bundle's programs in the sandbox and compare the paper's numbers.

Everything comes from the bundle: the manifest is checked first (a changed
file is refused, by name), each program runs from its recorded request in a
fresh folder under the work directory with its inputs mounted read-only, and
every number the paper states is compared with the recorded one. Inputs the
bundle did not copy come from the data program's re-run (checked against the
recorded hashes) or from a folder the user fetched (`--data NAME=DIR`).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labcoat.bundle import environment
from labcoat.bundle.claims import PRINTED
from labcoat.bundle.compare import Row, metric_value, printed_value, split_size
from labcoat.bundle.files import BundleError, bundle_root, sha256_file, tree_hashes, unpack, verify
from labcoat.bundle.model_calls import read_log
from labcoat.bundle.gateway_replay import model_access
from labcoat.untrusted import UntrustedFileError, read_json

MAX_JSON_BYTES = 64 << 20
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,120}")


def inside(root: Path, rel: Any, what: str) -> Path:
    """`root / rel`, refused unless it stays inside the bundle folder."""
    if not isinstance(rel, str) or not rel:
        raise BundleError(f"{what}: no path given")
    path = (root / rel).resolve()
    if not path.is_relative_to(root.resolve()):
        raise BundleError(f"{what}: {rel!r} points outside the bundle")
    return path


def _json(root: Path, rel: str) -> dict[str, Any]:
    try:
        data = read_json(inside(root, rel, rel), MAX_JSON_BYTES, root)
    except (UntrustedFileError, OSError) as exc:
        raise BundleError(f"the bundle's {rel} cannot be read: {exc}") from exc
    if not isinstance(data, dict):
        raise BundleError(f"the bundle's {rel} is not a JSON object")
    return data


@dataclass
class ProgramRun:
    name: str
    exit_code: int | None
    killed_by: str | None
    duration_s: float
    recorded_duration_s: float
    model_calls_served: int = 0
    model_calls_live: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass
class Reproduction:
    run_id: str
    workdir: Path
    rows: list[Row] = field(default_factory=list)
    programs: list[ProgramRun] = field(default_factory=list)
    drift: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.rows) and all(r.match for r in self.rows)

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "ok": self.ok, "rows": [r.to_json() for r in self.rows],
                "programs": [p.__dict__ for p in self.programs], "drift": self.drift, "warnings": self.warnings}


def open_bundle(path: Path, workdir: Path) -> Path:
    """The verified bundle folder: a folder as it is, a zip unpacked under `workdir`."""
    path = Path(path)
    if not path.exists():
        raise BundleError(f"no bundle at {path}")
    root = bundle_root(path) if path.is_dir() else unpack(path, workdir / "bundle")
    verify(root)
    return root


def reproduce(bundle: Path, *, workdir: Path | None = None, live_models: bool = False,
              data_dirs: dict[str, Path] | None = None, python: str | None = None) -> Reproduction:
    workdir = Path(workdir).absolute() if workdir else Path(tempfile.mkdtemp(prefix="labcoat-reproduce-"))
    workdir.mkdir(parents=True, exist_ok=True)
    root = open_bundle(bundle, workdir)
    meta = _json(root, "bundle.json")
    out = Reproduction(str(meta.get("run_id")), workdir)
    recorded_env = _json(root, "environment/environment.json")
    out.drift = environment.drift(recorded_env, environment.capture(python or sys.executable))
    programs = []
    for name in meta.get("programs") or []:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise BundleError(f"bundle.json names a program {name!r}; names are letters, digits, _ . -")
        program = _json(root, f"programs/{name}/program.json")
        if program.get("name") != name:
            raise BundleError(f"programs/{name}/program.json describes {program.get('name')!r}, not {name!r}")
        for field_name in ("code", "recorded_file"):
            inside(root, program.get(field_name), f"programs/{name}/program.json {field_name}")
        programs.append(program)
    made: dict[str, Path] = {}  # program name -> its re-run's data folder
    results: dict[str, dict[str, Any]] = {}
    for program in programs:
        inputs = {mount: str(_input_dir(root, program["name"], mount, spec, made, data_dirs or {}))
                  for mount, spec in program["inputs"].items()}
        run, result = _run_one(root, workdir, program, inputs, live_models, python, out)
        out.programs.append(run)
        results[program["name"]] = result
        data = Path(result["workdir"]) / "data"
        if data.is_dir():
            made[program["name"]] = data
            _compare_outputs(program, data, run)
    by_name = {p["name"]: p for p in programs}
    for claim in meta["claims"]:
        out.rows.append(_row(root, claim, by_name.get(claim["program"]), results.get(claim["program"]),
                             made.get(claim["program"]), live_models))
    return out


def _input_dir(root: Path, program: str, mount: str, spec: dict[str, Any], made: dict[str, Path],
               data_dirs: dict[str, Path]) -> Path:
    source = spec.get("source", {})
    if spec.get("bundle_path"):
        folder = inside(root, spec["bundle_path"], f"program {program}'s input {mount}")
    elif source.get("kind") == "program_output" and source.get("program") in made:
        folder = made[source["program"]]
    elif source.get("kind") == "huggingface":
        name = source["repo"].split("/")[-1]
        folder = data_dirs.get(source["repo"]) or data_dirs.get(name) or data_dirs.get(mount)
        if folder is None or not Path(folder).is_dir():
            revision = f" --revision {source['revision']}" if source.get("revision") else ""
            raise BundleError(
                f"program {program} reads the data set {source['repo']} (inputs/{mount}), which the bundle does not "
                f"hold; fetch it with `huggingface-cli download {source['repo']} --repo-type dataset{revision} "
                f"--local-dir {name}`, then pass `--data {source['repo']}={name}`")
        folder = Path(folder)
    else:
        raise BundleError(f"program {program}'s input inputs/{mount} is neither in the bundle nor made by a "
                          f"program it holds (source: {source})")
    _check_files(folder, spec.get("files") or {}, f"input inputs/{mount} of program {program}")
    return folder


def _check_files(folder: Path, files: dict[str, dict[str, Any]], what: str) -> None:
    for rel, entry in sorted(files.items()):
        path = folder / rel
        if not path.is_file():
            raise BundleError(f"{what}: {rel} is missing from {folder}")
        digest = sha256_file(path)
        if digest != entry["sha256"]:
            raise BundleError(f"{what}: {path} has sha256 {digest[:16]}…, the bundle recorded "
                              f"{entry['sha256'][:16]}…; refusing to run on changed data")


def _run_one(root: Path, workdir: Path, program: dict[str, Any], inputs: dict[str, str], live: bool,
             python: str | None, out: Reproduction) -> tuple[ProgramRun, dict[str, Any]]:
    from labcoat.config.schema import SandboxConfig
    from labcoat.executor.recorded import spec_from_config
    from labcoat.sandbox.run import run_program

    limits = dict(program.get("limits") or {})
    timeout = limits.pop("timeout_s", None)
    limits["python"] = python
    cfg = SandboxConfig.model_validate({**limits, "grant_env": program.get("granted_env_names") or []})
    folder = workdir / "programs" / program["name"]
    if folder.exists():
        shutil.rmtree(folder)
    code = (root / program["code"]).read_text(encoding="utf-8")
    spec = spec_from_config(cfg, folder, code=code, inputs=inputs, files=program.get("files") or {},
                            env=dict(program.get("env") or {}), timeout=timeout)
    missing = [n for n in cfg.grant_env if n not in os.environ]
    log = program.get("model_calls")
    run = ProgramRun(program["name"], None, None, 0.0, float(program.get("duration_s") or 0.0))
    if log:
        calls = read_log(inside(root, log.get("log"), f"program {program['name']}'s model-call log"))
        with model_access(program, calls, workdir / "model_calls" / program["name"], live) as (ctx, grant):
            spec.gateway = ctx.gateway.access(grant)
            result = run_program(spec)
        run.model_calls_served, run.model_calls_live = grant.replayed, grant.live
        not_recorded = [r for r in grant.refused if r.get("kind") == "not_recorded"]
        if not_recorded:
            run.notes.append(f"{len(not_recorded)} model call(s) not in the replay log were refused")
        run.notes += [f"a model call was refused: {r['message']}" for r in grant.refused
                      if r.get("kind") != "not_recorded"][:3]
    else:
        result = run_program(spec)
    run.notes += [f"granted variable {n} is not set here" for n in missing]
    run.exit_code, run.killed_by, run.duration_s = result.exit_code, result.killed_by, result.duration_s
    if not result.ok:
        tail = (result.stderr or "").strip().splitlines()[-3:]
        run.notes.append(f"the re-run failed (exit {result.exit_code}, killed by {result.killed_by}): "
                         + " | ".join(tail))
    out.warnings += list(result.warnings)
    return run, result.to_json() | {"workdir": str(folder)}


def _compare_outputs(program: dict[str, Any], data: Path, run: ProgramRun) -> None:
    expected = (program.get("outputs") or {}).get("data") or {}
    made = tree_hashes(data, skipped=[])
    differ = [rel for rel, entry in expected.items() if made.get(rel, {}).get("sha256") != entry["sha256"]]
    if differ:
        # file formats with timestamps (zip-based .npz) differ byte-wise on every run; the numbers are the check
        run.notes.append(f"{len(differ)} of {len(expected)} data files differ byte-wise from the recorded ones "
                         f"({', '.join(differ[:3])}); the experiments read the bundle's copy")


def _row(root: Path, claim: dict[str, Any], program: dict[str, Any] | None, result: dict[str, Any] | None,
         made: Path | None, live: bool) -> Row:
    recorded_run = _json(root, program["recorded_file"]) if program else {}
    tolerance = float((program or {}).get("tolerance") or 0.0)
    if live and program and program.get("model_calls"):
        tolerance = float(program.get("tolerance_live_models") or tolerance)
    name, split = claim["metric"], claim["split"]
    if name.startswith("size:"):
        bundled = (program or {}).get("outputs", {})
        recorded = split_size(_bundled_data(root, program), name[5:]) if bundled is not None else None
        rerun = split_size(made, name[5:])
    elif name.startswith(PRINTED):
        recorded = printed_value(recorded_run.get("stdout") or "", claim.get("stated", ""))
        rerun = printed_value((result or {}).get("stdout") or "", claim.get("stated", ""))
    else:
        recorded = metric_value(recorded_run.get("metrics") or [], name, split)
        rerun = metric_value((result or {}).get("metrics") or [], name, split)
    note = "" if result and result.get("exit_code") == 0 else "re-run failed"
    return Row(claim["program"], name, split, claim.get("stated", ""), recorded, rerun, tolerance, note)


def _bundled_data(root: Path, program: dict[str, Any] | None) -> Path | None:
    # the data program's own output, as copied for the experiments that read it
    for candidate in (root / "data" / (program or {}).get("name", "") / "data",):
        if candidate.is_dir():
            return candidate
    return None


def elapsed(fn, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    return fn(*args, **kwargs), time.perf_counter() - start
