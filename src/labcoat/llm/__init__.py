"""The LLM layer: models behind one `ask`, typed commands, cost ledger and budget.

Agents and phases call `ctx.models.ask(...)` (see `labcoat.llm.registry`) and
declare their replies as `labcoat.llm.commands.Command` subclasses.
"""

from labcoat.llm.commands import Command, CommandSet, ReplyError, fenced
from labcoat.llm.model import Model
from labcoat.llm.presets import PRESETS, ModelRef, parse_model
from labcoat.llm.registry import MalformedReply, ModelRegistry
from labcoat.llm.types import Reply, Usage

__all__ = ["Command", "CommandSet", "MalformedReply", "Model", "ModelRef", "ModelRegistry", "PRESETS", "Reply",
           "ReplyError", "Usage", "fenced", "parse_model"]
