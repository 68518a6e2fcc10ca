"""The run store: one SQLite database per run (WAL), plus artefact folders.

`RunStore` owns the connection and the tables; `Effects` memoises side effects
by their logical position so a resumed run replays them; `open_store` and
`find_run` locate runs on disk.
"""

from labcoat.store.effects import Effects, request_hash
from labcoat.store.runstore import RunStore, open_store, find_run, list_runs

__all__ = ["Effects", "RunStore", "open_store", "find_run", "list_runs", "request_hash"]
