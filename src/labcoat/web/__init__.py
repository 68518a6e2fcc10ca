"""The web dashboard: watch, inspect and steer runs in the browser (`labcoat serve`).

`create_app(runs_root, token=...)` builds the FastAPI application; it reads
run stores and writes only answers to pending co-pilot gates.
"""

from labcoat.web.app import create_app

__all__ = ["create_app"]
