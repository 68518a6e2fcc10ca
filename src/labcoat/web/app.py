"""The dashboard application: `create_app(runs_root)` returns a FastAPI app.

It reads run stores read-only (WAL lets it watch a run while it is written)
and writes one thing only: the answer to a pending co-pilot gate. Pages are
Jinja2 templates with autoescaping on everywhere, since agent text is
untrusted; scripts come only from the vendored htmx in static/.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader

from labcoat.errors import RunNotFound, StoreError
from labcoat.store.runstore import DB_NAME, RunStore, iter_run_dirs
from labcoat.web import routes_experiments, routes_live, routes_phases, routes_plots, routes_report, routes_runs
from labcoat.web.errors import PageError
from labcoat.access import AccessGuard
from labcoat.web.security import DASHBOARD, PageHeaders

HERE = Path(__file__).parent
RUN_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "frame-src 'self'; object-src 'self'; form-action 'self'; frame-ancestors 'self'; base-uri 'none'")


@dataclass
class Dashboard:
    """What every route needs, created once per app (no module state)."""

    runs_root: Path
    env: Environment
    poll_s: float = 1.0
    stream_max_s: float = 300.0
    form_token: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    streams: dict[str, int] = field(default_factory=lambda: {"open": 0, "closed": 0})

    def run_dir(self, ref: str) -> Path:
        """The directory of run `ref` (its directory name) under the runs root."""
        if not RUN_REF.match(ref) or ".." in ref:
            raise PageError(404, "No such run", f"'{ref}' is not a run id")
        for run_dir in iter_run_dirs(self.runs_root):
            if run_dir.name == ref:
                return run_dir
        raise PageError(404, "No such run", f"there is no run '{ref}' under {self.runs_root.resolve()}; "
                                            "it may have been moved or deleted")

    @contextmanager
    def store(self, ref: str) -> Iterator[RunStore]:
        run_dir = self.run_dir(ref)
        try:
            store = RunStore(run_dir, readonly=True)
        except (StoreError, sqlite3.DatabaseError) as exc:
            raise _unreadable(run_dir, exc) from exc
        try:
            yield store
        except (StoreError, sqlite3.DatabaseError) as exc:
            raise _unreadable(run_dir, exc) from exc
        finally:
            store.close()

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = self.env.get_template(template).render(form_token=self.form_token, **context)
        return HTMLResponse(html, status_code=status)


def _unreadable(run_dir: Path, exc: Exception) -> PageError:
    return PageError(422, "Unreadable run", f"the run store {run_dir / DB_NAME} cannot be read: {exc}. "
                                            "It may be damaged or written by a newer labcoat; "
                                            "`labcoat status` on it says more")


def _filters(env: Environment) -> None:
    def ts(value: Any) -> str:
        if not isinstance(value, (int, float)):
            return "-"
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(value))

    def clock(value: Any) -> str:
        return time.strftime("%H:%M:%S", time.localtime(value)) if isinstance(value, (int, float)) else "-"

    def duration(value: Any) -> str:
        if not isinstance(value, (int, float)):
            return "-"
        seconds = int(value)
        if seconds < 60:
            return f"{value:.1f} s"
        if seconds < 3600:
            return f"{seconds // 60} min {seconds % 60} s"
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"

    def num(value: Any, digits: int = 4) -> str:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "-" if value is None else str(value)
        return f"{value:.{digits}g}"

    def pretty(value: Any) -> str:
        import json

        return json.dumps(value, indent=2, ensure_ascii=False, default=str)

    def cached_share(row: Any) -> str:
        """The share of a cost row's input read from the provider's cache, " (25%)" as `labcoat cost` shows it."""
        from labcoat.llm.ledger import cache_share

        share = cache_share({"input_tokens": row.get("input"), "cached_tokens": row.get("cached")})
        return "" if share is None else f" ({share:.0%})"

    from labcoat.store.event_text import describe
    from labcoat.web.plots import money

    env.filters.update(ts=ts, clock=clock, duration=duration, money=money, num=num, pretty=pretty, said=describe,
                       cached_share=cached_share)


def create_app(runs_root: Path | str, *, token: str | None = None, poll_s: float = 1.0,
               stream_max_s: float = 300.0) -> FastAPI:
    """The dashboard over the runs under `runs_root`; with `token`, every request must present it."""
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True,
                      trim_blocks=True, lstrip_blocks=True)
    _filters(env)
    dash = Dashboard(runs_root=Path(runs_root), env=env, poll_s=poll_s, stream_max_s=stream_max_s)
    app = FastAPI(title="labcoat dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.dash = dash
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    for module in (routes_runs, routes_phases, routes_experiments, routes_report, routes_live, routes_plots):
        app.include_router(module.router)

    @app.exception_handler(PageError)
    async def page_error(request: Request, exc: PageError) -> HTMLResponse:
        return dash.render("error.html", status=exc.status, title=exc.title, detail=exc.detail)

    @app.exception_handler(RunNotFound)
    async def run_not_found(request: Request, exc: RunNotFound) -> HTMLResponse:
        return dash.render("error.html", status=404, title="No such run", detail=str(exc))

    app.add_middleware(PageHeaders, csp=CSP)
    app.add_middleware(AccessGuard, token=token, service=DASHBOARD)
    return app
