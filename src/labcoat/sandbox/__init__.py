"""The sandbox for LLM-written programs.

`run_program(ProgramSpec) -> ProgramResult` runs one program (see `run`);
`run_in_sandbox` / `run_batch_in_sandbox` run programs as recorded effects
of a run, so a resumed run never re-runs a finished program (see `memo`).
"""

from labcoat.sandbox.memo import run_batch_in_sandbox, run_in_sandbox, spec_from_config
from labcoat.sandbox.run import SandboxError, run_program, sandbox_mode
from labcoat.sandbox.spec import ProgramResult, ProgramSpec

__all__ = ["ProgramResult", "ProgramSpec", "SandboxError", "run_batch_in_sandbox", "run_in_sandbox",
           "run_program", "sandbox_mode", "spec_from_config"]
