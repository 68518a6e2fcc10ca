"""The sandbox for LLM-written programs.

`run_program(ProgramSpec) -> ProgramResult` runs one program (see `run`).
Running programs as recorded effects of a run, so a resumed run never
re-runs a finished program, is `labcoat.executor.recorded`.
"""

from labcoat.sandbox.run import run_program, sandbox_mode
from labcoat.sandbox.spec import ProgramResult, ProgramSpec, SandboxError

__all__ = ["ProgramResult", "ProgramSpec", "SandboxError", "run_program", "sandbox_mode"]
