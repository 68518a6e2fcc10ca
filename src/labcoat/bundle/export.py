"""`labcoat export`: write a run's reproducibility bundle (a folder, or a zip of it).

The bundle is built from the run folder and its store, read-only. Inputs are
hashed file by file; a data folder up to `max_copy_mb` is copied in, a
larger one is referenced by where it came from (the Hugging Face repository
and revision, or the data program that makes it) with its file hashes, so
`labcoat reproduce` can fetch or rebuild it and prove it got the same bytes.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from labcoat.bundle import FORMAT, crate, environment, model_calls
from labcoat.bundle.claims import paper_claims
from labcoat.bundle.files import BundleError, pack, sha256_file, tree_hashes, write_manifest
from labcoat.bundle.programs import RecordedProgram, find_programs, program_names_for
from labcoat.store.runstore import RunStore
from labcoat.untrusted import copy_file

TEMPLATES = Path(__file__).parent / "templates"
DEFAULT_MAX_COPY_MB = 64.0
LIVE_MODEL_TOLERANCE = 0.05  # absolute, for re-runs that ask a live model instead of the replay log


@dataclass
class ExportResult:
    path: Path
    run_id: str
    programs: list[str]
    claims: int
    copied_bytes: int
    referenced: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def bundle_name(run_id: str) -> str:
    return f"labcoat-bundle-{run_id}"


def default_out(run_dir: Path, run_id: str) -> Path:
    """Where `labcoat export` and the dashboard put a run's bundle unless told otherwise."""
    return Path(run_dir) / "bundle" / f"{bundle_name(run_id)}.zip"


def export_run(run_dir: Path, out: Path | None = None, *, max_copy_mb: float = DEFAULT_MAX_COPY_MB,
               tolerance: float = 0.0) -> ExportResult:
    """Write the bundle of `run_dir` to `out` (a folder, or a path ending in .zip)."""
    run_dir = Path(run_dir)
    with RunStore(run_dir, readonly=True) as store:
        info = store.info()
        out = Path(out) if out else default_out(run_dir, info.id)
        if out.suffix == ".zip":
            with tempfile.TemporaryDirectory(prefix="labcoat-export-") as tmp:
                result = _write(store, run_dir, Path(tmp) / bundle_name(info.id), max_copy_mb, tolerance)
                result.path = pack(Path(tmp) / bundle_name(info.id), out)
                return result
        if out.exists() and any(out.iterdir()):
            raise BundleError(f"{out} exists and is not empty; choose a new folder or a .zip path")
        return _write(store, run_dir, out, max_copy_mb, tolerance)


def _write(store: RunStore, run_dir: Path, root: Path, max_copy_mb: float, tolerance: float) -> ExportResult:
    info = store.info()
    results = (store.artefact("running_experiments") or {}).get("data")
    data = (store.artefact("data_preparation") or {}).get("data")
    report = (store.artefact("report_writing") or {}).get("data") or {}
    claims, claims_from = paper_claims(run_dir, results)
    programs = find_programs(store, program_names_for({c.program for c in claims}, results), data, results)
    found = {p.name for p in programs}
    warnings = [f"the paper states {c.metric} ({c.split}) of {c.program}, whose recorded run was not found; "
                "it is left out of the comparison" for c in claims if c.program not in found]
    claims = [c for c in claims if c.program in found]
    root.mkdir(parents=True, exist_ok=True)
    writer = _InputWriter(store, run_dir, root, int(max_copy_mb * (1 << 20)), programs)
    described = [_program(root, p, writer, tolerance) for p in programs]
    for p in programs:
        p.model_calls = model_calls.recorded_calls(store, p.key)
    _copy_paper(run_dir, root, report)
    env = environment.capture(store.config().get("sandbox", {}).get("python"))
    (root / "environment").mkdir(exist_ok=True)
    (root / "environment" / "environment.json").write_text(json.dumps(env, indent=1, sort_keys=True) + "\n")
    (root / "environment" / "requirements.lock").write_text(environment.requirements_lock(env))
    for p, desc in zip(programs, described):
        if p.model_calls:
            rel = f"model_calls/{p.name}.jsonl"
            model_calls.write_log(root / rel, p.model_calls)
            desc["model_calls"] = {"log": rel, "count": len(p.model_calls)}
            desc["model_access"] = _model_access(p, store.config())
            desc["tolerance_live_models"] = max(tolerance, LIVE_MODEL_TOLERANCE)
        (root / "programs" / p.name / "program.json").write_text(json.dumps(desc, indent=1, sort_keys=True) + "\n")
    bundle = {
        "format": FORMAT, "run_id": info.id, "topic": info.topic, "title": report.get("title") or "",
        "exported": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "run_labcoat_version": store.run_row()["labcoat_version"],
        "programs": [p.name for p in programs], "claims": [c.to_json() for c in claims], "claims_from": claims_from,
        "paper": {k: v for k, v in (("pdf", report.get("pdf")), ("tex", report.get("tex"))) if v},
        "environment_summary": {"python": env.get("python"), "labcoat_version": env["labcoat"].get("version"),
                                "labcoat_commit": env["labcoat"].get("commit")},
        "experiment_seconds": round(sum(p.duration_s for p in programs), 3),
        "warnings": warnings + writer.warnings,
    }
    (root / "bundle.json").write_text(json.dumps(bundle, indent=1, sort_keys=True) + "\n")
    (root / "REPRODUCE.md").write_text(_render("REPRODUCE.md.j2", bundle=bundle, programs=described, env=env))
    crate.write_crate(root, bundle, described, tree_hashes(root))
    write_manifest(root, info.id)
    return ExportResult(root, info.id, [p.name for p in programs], len(claims), writer.copied_bytes,
                        writer.referenced, bundle["warnings"])


def _model_access(program: RecordedProgram, config: dict[str, Any]) -> dict[str, Any]:
    """The models the program was allowed and the gateway's limits, so a re-run gets the same access."""
    summary = program.result.get("model_calls") or {}
    limits = {k: v for k, v in (config.get("experiments") or {}).items()
              if k in ("max_calls", "max_concurrent", "max_tokens_per_call")}
    allowed = summary.get("allowed") or sorted({str(c["request"].get("model")) for c in program.model_calls})
    return {"allowed": allowed, **limits, "recorded": {k: summary.get(k) for k in ("calls", "live", "replayed")}}


def _program(root: Path, program: RecordedProgram, writer: "_InputWriter", tolerance: float) -> dict[str, Any]:
    folder = root / "programs" / program.name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "main.py").write_text(program.request.get("code") or "", encoding="utf-8")
    recorded = {k: program.result.get(k) for k in ("exit_code", "killed_by", "duration_s", "cpu_s", "peak_rss_mb",
                                                   "metrics", "metrics_errors", "sandbox")}
    recorded["stdout"] = program.result.get("stdout") or ""  # already capped by the sandbox (head + tail)
    (folder / "recorded.json").write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")
    request = program.request
    return {
        "name": program.name, "role": program.role, "effect_key": program.key,
        "code": f"programs/{program.name}/main.py", "code_sha256": sha256_file(folder / "main.py"),
        "recorded_file": f"programs/{program.name}/recorded.json",
        "files": request.get("files") or {}, "env": request.get("env") or {},
        "granted_env_names": list(request.get("grant_env") or []),
        "limits": request.get("limits") or {}, "seed": program.seeds,
        "inputs": {mount: writer.describe(path) for mount, path in sorted((request.get("inputs") or {}).items())},
        "outputs": writer.outputs_of(program), "tolerance": tolerance, "duration_s": program.duration_s,
    }


class _InputWriter:
    """Hashes each input folder once; copies it into `data/` or records where to get it."""

    def __init__(self, store: RunStore, run_dir: Path, root: Path, max_copy_bytes: int,
                 programs: list[RecordedProgram]):
        self.store, self.run_dir, self.root, self.max_copy = store, run_dir, root, max_copy_bytes
        self.makers = {str(Path(p.result.get("workdir") or "") / "data"): p.name for p in programs
                       if p.name == "data_preparation" and p.result.get("workdir")}
        self.done: dict[str, dict[str, Any]] = {}
        self.copied_bytes = 0
        self.referenced: list[str] = []
        self.warnings: list[str] = []

    def describe(self, path: str) -> dict[str, Any]:
        if path not in self.done:
            self.done[path] = self._describe(path)
        return self.done[path]

    def _describe(self, path: str) -> dict[str, Any]:
        host = (self.run_dir / path) if not Path(path).is_absolute() else Path(path)
        if not host.is_dir():
            raise BundleError(f"input folder {path} of the run is gone ({host}); the bundle cannot list its files")
        files = _hashes(host, self.warnings)
        size = sum(f["bytes"] for f in files.values())
        source = self._source(path, host)
        spec: dict[str, Any] = {"source": source, "files": files, "bytes": size, "bundle_path": None}
        if size <= self.max_copy or source["kind"] == "run_folder":
            if source["kind"] == "run_folder" and size > self.max_copy:
                self.warnings.append(f"input {path} ({size} bytes) is over the copy cap but has no other source: "
                                     "copied")
            name = _copy_name(source, host, path)
            dest = self.root / "data" / name
            for rel, meta in files.items():
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                copy_file(host / rel, dest / rel, max(meta["bytes"], 1), root=host)
            spec["bundle_path"] = f"data/{name}"
            self.copied_bytes += size
        else:
            self.referenced.append(path)
        return spec

    def _source(self, path: str, host: Path) -> dict[str, Any]:
        if path in self.makers:
            return {"kind": "program_output", "program": self.makers[path], "path": "data"}
        for row in self.store.db.execute("SELECT request, result FROM effects WHERE kind='tool'"):
            request, result = json.loads(row["request"]), json.loads(row["result"])
            if request.get("tool") == "prefetch" and "error" not in result and \
                    Path(result.get("path", "")).resolve() == host.resolve():
                return {"kind": "huggingface", "repo": result.get("dataset_id"), "revision": result.get("revision"),
                        "repo_type": "dataset"}
        return {"kind": "run_folder", "path": path}

    def outputs_of(self, program: RecordedProgram) -> dict[str, Any]:
        """The data files the data program wrote, by hash: what a re-run should make again."""
        if program.name != "data_preparation" or not program.result.get("workdir"):
            return {}
        host = self.run_dir / program.result["workdir"] / "data"
        return {"data": _hashes(host, self.warnings)} if host.is_dir() else {}


def _copy_name(source: dict[str, Any], host: Path, path: str) -> str:
    if source["kind"] == "program_output":
        return f"{source['program']}/data"
    if source["kind"] == "huggingface":
        return f"huggingface/{host.name}"
    return "run/" + path.strip("/").replace("/", "__")


def _hashes(folder: Path, warnings: list[str]) -> dict[str, dict[str, Any]]:
    return tree_hashes(folder, skipped=warnings)


def _copy_paper(run_dir: Path, root: Path, report: dict[str, Any]) -> None:
    folder = run_dir / (report.get("folder") or "report")
    if folder.is_dir():
        for rel, meta in tree_hashes(folder, skipped=[]).items():
            dest = root / "paper" / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            copy_file(folder / rel, dest, max(meta["bytes"], 1), root=folder)
    readme = run_dir / "README.md"
    if readme.is_file():
        shutil.copyfile(readme, root / "README.md")


def _render(name: str, **values: Any) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True, autoescape=False)
    return env.get_template(name).render(**values)
