"""Sandbox runs as recorded effects (kind "exec"): resume never re-runs a finished program.

Each program runs in `<run_dir>/exec/<safe key>/`, so its files and figures
stay with the run. The recorded request holds the code, files, inputs, plain
environment, limits and the *names* of granted variables — never their
values. Batches look each key up first and send only the misses to
`ctx.executor`; results are recorded by the driver as they arrive.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labcoat.sandbox.bwrap import python_paths
from labcoat.sandbox.run import NO_ISOLATION, run_program, sandbox_mode
from labcoat.sandbox.spec import ProgramResult, ProgramSpec
from labcoat.store.runstore import dumps

if TYPE_CHECKING:
    from labcoat.config.schema import SandboxConfig
    from labcoat.workflow.context import RunContext

# (key, code, extra plain environment)
Job = tuple[str, str, dict[str, str]]


def safe_key(key: str) -> str:
    """A directory name for an effect key: readable, unique, no path separators."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", key).strip("._")[:80]
    return f"{slug}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


def spec_from_config(cfg: "SandboxConfig", workdir: str | Path, *, code: str | None = None, path: str | None = None,
                     inputs: dict[str, str] | None = None, files: dict[str, str] | None = None,
                     env: dict[str, str] | None = None, timeout: float | None = None,
                     python_dirs: list[str] | None = None) -> ProgramSpec:
    """A ProgramSpec from `config.sandbox`; granted variables are read from os.environ here."""
    python = cfg.python or sys.executable
    granted = {name: os.environ[name] for name in cfg.grant_env if name in os.environ}
    return ProgramSpec(
        workdir=str(workdir), code=code, path=path, files=dict(files or {}), inputs=dict(inputs or {}),
        timeout_s=float(timeout or cfg.timeout_s), cpu_s=cfg.cpu_s, memory_mb=cfg.memory_mb,
        file_size_mb=cfg.file_size_mb, disk_mb=cfg.disk_mb, max_processes=cfg.max_processes, max_open_files=cfg.max_open_files,
        output_limit_kb=cfg.output_limit_kb, network=cfg.network, env=dict(env or {}), granted_env=granted,
        python=python, python_paths=python_dirs, gpus=list(cfg.gpus), threads=cfg.threads,
        mode="bwrap" if cfg.require_bwrap else "auto",
    )


def _request(ctx: "RunContext", spec: ProgramSpec) -> dict[str, Any]:
    cfg = ctx.config.sandbox
    return {
        "code": spec.code, "files": spec.files, "env": spec.env,
        "inputs": {k: _rel(ctx, v) for k, v in sorted(spec.inputs.items())},
        "grant_env": sorted(cfg.grant_env),
        "limits": cfg.model_dump(exclude={"grant_env", *_unset_later_limits(cfg)}) | {"timeout_s": spec.timeout_s},
    }


def _unset_later_limits(cfg: "SandboxConfig") -> set[str]:
    # Limits added after runs were recorded enter the request only when set, so those runs still replay.
    return {name for name in ("disk_mb",) if getattr(cfg, name) == type(cfg).model_fields[name].default}


def _rel(ctx: "RunContext", path: str) -> str:
    p = Path(path).resolve()
    root = Path(ctx.run_dir).resolve()
    return str(p.relative_to(root)) if p.is_relative_to(root) else str(p)


def _as_record(ctx: "RunContext", key: str, result: ProgramResult, missing: list[str]) -> dict[str, Any]:
    data = result.to_json()
    workdir = Path(result.workdir)
    data["key"] = key
    data["workdir"] = _rel(ctx, str(workdir))
    data["files"] = [_rel(ctx, str(workdir / f)) for f in result.files]
    data["figures"] = [_rel(ctx, str(workdir / f)) for f in result.figures]
    data["warnings"] = [*result.warnings,
                        *(f"granted variable {name} is not set in labcoat's environment" for name in missing)]
    return data


def _prepare(ctx: "RunContext", key: str, code: str, env: dict[str, str], inputs, files, timeout,
             python_dirs) -> ProgramSpec:
    workdir = ctx.run_dir / "exec" / safe_key(key)
    return spec_from_config(ctx.config.sandbox, workdir, code=code, inputs=inputs, files=files, env=env,
                            timeout=timeout, python_dirs=python_dirs)


def _fresh(spec: ProgramSpec) -> ProgramSpec:
    # A workdir left by a run that crashed before recording must not leak into this one.
    if os.path.isdir(spec.workdir):
        shutil.rmtree(spec.workdir)
    return spec


MPL_SEED_CODE = "try:\n    import matplotlib.font_manager\nexcept ImportError:\n    pass\n"


def matplotlib_cache(ctx: "RunContext", python_dirs: list[str] | None) -> dict[str, str]:
    """Matplotlib builds its font list on first import, for seconds: build it once per run, in the sandbox."""
    seed = ctx.run_dir / "exec" / ".seed"
    found = sorted(seed.glob("fontlist-*.json"))
    if not found:
        build = seed / "build"
        spec = spec_from_config(ctx.config.sandbox, build, code=MPL_SEED_CODE, python_dirs=python_dirs)
        spec.granted_env, spec.network = {}, False
        run_program(_fresh(spec))
        for f in (build / ".cache" / "matplotlib").glob("fontlist-*.json"):
            shutil.copyfile(f, seed / f.name)
        shutil.rmtree(build, ignore_errors=True)
        found = sorted(seed.glob("fontlist-*.json"))
    return {f".cache/matplotlib/{f.name}": str(f) for f in found}


def _announce(ctx: "RunContext", record: dict[str, Any]) -> None:
    if record.get("sandbox") == "rlimits-only" and NO_ISOLATION not in ctx.warnings:
        ctx.warn(NO_ISOLATION)


def run_in_sandbox(ctx: "RunContext", key: str, code: str, *, inputs: dict[str, str] | None = None,
                   files: dict[str, str] | None = None, timeout: float | None = None,
                   env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run one program as the recorded effect `key`; returns the JSON result."""
    return run_batch_in_sandbox(ctx, [(key, code, dict(env or {}))], inputs=inputs, files=files,
                                timeout=timeout)[0]


def run_batch_in_sandbox(ctx: "RunContext", jobs: list[Job], *, inputs: dict[str, str] | None = None,
                         files: dict[str, str] | None = None, timeout: float | None = None) -> list[dict[str, Any]]:
    """Run several programs at once on `ctx.executor`; recorded ones are served from the store.

    Results come back in the order of `jobs`. If any program could not be run
    at all (the sandbox failed), the others are still recorded, then the first
    such error is raised.
    """
    sandbox_mode("bwrap" if ctx.config.sandbox.require_bwrap else "auto")  # fail early, before any lookup
    python_dirs = None
    results: list[dict[str, Any] | None] = [None] * len(jobs)
    pending: list[tuple[int, str, ProgramSpec, dict[str, Any]]] = []
    for i, (key, code, env) in enumerate(jobs):
        if python_dirs is None:
            python_dirs = python_paths(ctx.config.sandbox.python or sys.executable)
        spec = _prepare(ctx, key, code, env, inputs, files, timeout, python_dirs)
        request = _request(ctx, spec)
        hit = ctx.effects.lookup("exec", key, request)
        if hit is not None:
            results[i] = hit.result
        else:
            pending.append((i, key, spec, request))
    missing = [n for n in ctx.config.sandbox.grant_env if n not in os.environ]
    if any("matplotlib" in (spec.code or "") for _, _, spec, _ in pending):
        caches = matplotlib_cache(ctx, python_dirs)
        for _, _, spec, _ in pending:
            spec.copy_in.update(caches)
    first_error: BaseException | None = None
    grants = {key: _grant(ctx, key, spec) for _, key, spec, _ in pending}
    try:
        if ctx.executor is None:
            for i, key, spec, request in pending:
                results[i] = _finish(ctx, key, request, run_program(_fresh(spec)), missing, grants[key])
        else:
            futures = {ctx.executor.submit(run_program, _fresh(spec)): (i, key, spec, request)
                       for i, key, spec, request in pending}
            for fut in cf.as_completed(futures):
                i, key, spec, request = futures[fut]
                try:
                    results[i] = _finish(ctx, key, request, fut.result(), missing, grants[key])
                except Exception as exc:  # recorded nothing for this key; the rest are still recorded
                    first_error = first_error or exc
    finally:
        for grant in grants.values():
            if grant is not None:
                ctx.gateway.revoke(grant)
    if first_error is not None:
        raise first_error
    for record in results:
        _announce(ctx, record)  # type: ignore[arg-type]
    return results  # type: ignore[return-value]


def _grant(ctx: "RunContext", key: str, spec: ProgramSpec) -> Any:
    """Model access for the program at `key` while it runs (None when experiments may call no model)."""
    if ctx.gateway is None:
        return None
    grant = ctx.gateway.open(key)
    if grant is not None:
        spec.gateway = ctx.gateway.access(grant)
    return grant


def _finish(ctx: "RunContext", key: str, request: dict[str, Any], result: ProgramResult,
            missing: list[str], grant: Any = None) -> dict[str, Any]:
    if grant is not None and grant.pause is not None:
        # The budget or the provider stopped its calls: the program's run is not kept, so resuming
        # runs it again and its answered calls come back from the record.
        raise grant.pause
    record = _as_record(ctx, key, result, missing)
    if grant is not None:
        record["model_calls"] = grant.summary()
    ctx.effects.record("exec", key, request, record, result.duration_s)
    # Live and replayed runs must see identical values, as with Effects.run.
    return json.loads(dumps(record))
