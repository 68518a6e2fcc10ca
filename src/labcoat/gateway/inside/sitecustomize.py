"""Agent Laboratory's task notes call `query_gpt4omini(...)` without importing it: make its helpers builtins.

Loaded only in programs that have model access (this folder is on their PYTHONPATH).
"""

import builtins

import labcoat_lab

for _name in ("query_model", "query_gpt4omini", "query_gpt4o", "query_deepseekv3"):
    if not hasattr(builtins, _name):
        setattr(builtins, _name, getattr(labcoat_lab, _name))
