"""`labcoat serve`: the web dashboard over a folder of runs."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from labcoat.cli.output import console
from labcoat.errors import ConfigError
from labcoat.store.runstore import runs_root


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        runs: Optional[Path] = typer.Option(None, "--runs", help="folder of runs (default: $LABCOAT_RUNS or ./runs)"),
        host: str = typer.Option("127.0.0.1", "--host", help="address to bind; anything but loopback needs the "
                                                             "printed access token"),
        port: int = typer.Option(8765, "--port", help="port to listen on"),
    ) -> None:
        """Watch, inspect and steer runs in the browser (read-only, except answering co-pilot gates)."""
        import uvicorn

        from labcoat.web import create_app
        from labcoat.access import is_loopback, new_token

        if not 0 < port < 65536:
            raise ConfigError(f"--port must be between 1 and 65535, got {port}")
        root = runs_root(runs)
        token = None if is_loopback(host) else new_token()
        out = console()
        shown_host = f"[{host}]" if ":" in host else host
        url = f"http://{shown_host}:{port}/"
        out.print(f"labcoat dashboard for runs under {root.resolve()}", highlight=False)
        if token:
            out.print(f"bound to {host}: every request needs the access token. Open:\n  {url}?token={token}\n"
                      "(shown once; anyone with this URL can read these runs and answer their co-pilot gates)",
                      highlight=False, markup=False)
        else:
            out.print(f"open {url}  (Ctrl-C stops it)", highlight=False, markup=False)
        uvicorn.run(create_app(root, token=token), host=host, port=port, log_level="warning",
                    timeout_graceful_shutdown=3)
