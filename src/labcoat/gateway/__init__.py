"""The model gateway: language models for sandboxed experiment programs, without the key or the network.

`RunGateway(ctx)` serves a run's programs (see `run_gateway`); `Gateway` is
the server (`server`), `ExperimentCalls` the recorded calls (`calls`), `wire`
the OpenAI/Anthropic shapes; `inside/` holds what the program sees
(`labcoat_lab`, the forwarder). `calls_made(store, program_key)` is a
program's replay log.
"""

from labcoat.gateway.calls import ExperimentCalls, Grant, calls_made
from labcoat.gateway.run_gateway import RunGateway, allowed_models

__all__ = ["ExperimentCalls", "Grant", "RunGateway", "allowed_models", "calls_made"]
