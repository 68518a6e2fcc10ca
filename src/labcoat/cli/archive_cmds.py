"""`labcoat archive serve|list|search`: the shared preprint archive and a terminal client for it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from labcoat.cli.output import console, err_console
from labcoat.errors import ConfigError, LabcoatError

DEFAULT_PORT = 8766
URL_ENV = "LABCOAT_ARCHIVE_URL"
DIR_ENV = "LABCOAT_ARCHIVE_DIR"


def _client(url: Optional[str]):
    from labcoat.archive.client import ArchiveClient

    return ArchiveClient(url or os.environ.get(URL_ENV) or f"http://127.0.0.1:{DEFAULT_PORT}")


def serve(
    directory: Optional[Path] = typer.Option(None, "--dir", help=f"archive folder (default: ${DIR_ENV} or ./archive)"),
    host: str = typer.Option("127.0.0.1", "--host", help="address to bind; anything but loopback needs the "
                                                         "printed access token"),
    port: int = typer.Option(DEFAULT_PORT, "--port", help="port to listen on"),
    embeddings: str = typer.Option("auto", "--embeddings", help="semantic search: auto (when the `embed` extra "
                                                                "is installed), on, off"),
    max_pdf_mb: float = typer.Option(50, "--max-pdf-mb", help="largest PDF accepted"),
    max_tex_mb: float = typer.Option(5, "--max-tex-mb", help="largest .tex accepted"),
    max_bib_mb: float = typer.Option(2, "--max-bib-mb", help="largest .bib accepted"),
) -> None:
    """Serve the archive labs publish their reports to and search for each other's work."""
    import uvicorn

    from labcoat.archive import embed
    from labcoat.access import is_loopback, new_token
    from labcoat.archive.client import TOKEN_ENV
    from labcoat.archive.service import create_app
    from labcoat.archive.store import ArchiveStoreError
    from labcoat.archive.validate import MB, Limits

    if not 0 < port < 65536:
        raise ConfigError(f"--port must be between 1 and 65535, got {port}")
    for name, value in (("--max-pdf-mb", max_pdf_mb), ("--max-tex-mb", max_tex_mb), ("--max-bib-mb", max_bib_mb)):
        if value <= 0:
            raise ConfigError(f"{name} must be positive, got {value}")
    try:
        embedder = embed.choose(embeddings)
    except (ValueError, embed.EmbeddingsUnavailable) as exc:
        raise ConfigError(f"--embeddings: {exc}") from None
    root = Path(directory or os.environ.get(DIR_ENV) or "archive")
    limits = Limits(pdf_bytes=int(max_pdf_mb * MB), tex_bytes=int(max_tex_mb * MB), bib_bytes=int(max_bib_mb * MB))
    token = None if is_loopback(host) else (os.environ.get(TOKEN_ENV) or new_token())
    try:
        app = create_app(root, token=token, limits=limits, embedder=embedder)
    except ArchiveStoreError as exc:
        raise LabcoatError(str(exc)) from None
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{port}"
    out = console()
    modes = f"FTS5 + {embedder.model}, loading in the background (full text until ready)" if embedder else "FTS5"
    out.print(f"labcoat archive of {root.resolve()} at {url}  (search: {modes}; Ctrl-C stops it)",
              highlight=False, markup=False)
    if token and not os.environ.get(TOKEN_ENV):
        out.print(f"bound to {host}: every request needs this access token (shown once):\n  {token}\n"
                  f"clients: export {TOKEN_ENV}={token}  and  {URL_ENV}={url}", highlight=False, markup=False)
    elif token:
        out.print(f"bound to {host}: every request needs the token in ${TOKEN_ENV}", highlight=False, markup=False)
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=3)


def list_papers(
    url: Optional[str] = typer.Option(None, "--url", help=f"archive URL (default: ${URL_ENV} or "
                                                         f"http://127.0.0.1:{DEFAULT_PORT})"),
    limit: int = typer.Option(20, "--limit", min=1, max=200, help="how many, newest first"),
) -> None:
    """List the newest papers in an archive."""
    with _client(url) as client:
        data = client.list(limit=limit)
    table = Table("id", "title", "lab", "topic", "published", title=f"{data['total']} papers in {client.url}")
    for p in data["papers"]:
        table.add_row(p["id"], escape(p["title"]), escape(p["lab"]), escape(p["topic"][:40]), p["created"][:10])
    console().print(table)


def search(
    query: str = typer.Argument(..., help="free text"),
    url: Optional[str] = typer.Option(None, "--url", help=f"archive URL (default: ${URL_ENV})"),
    limit: int = typer.Option(10, "--limit", min=1, max=200),
    mode: str = typer.Option("auto", "--mode", help="auto, fts or semantic"),
) -> None:
    """Search an archive; best match first."""
    if mode not in ("auto", "fts", "semantic"):
        raise ConfigError(f"--mode must be auto, fts or semantic, got {mode!r}")
    with _client(url) as client:
        answer = client.search_answer(query, limit, mode=mode)
    results = answer["papers"]
    if answer["note"]:
        err_console().print(f"[yellow]note:[/] {escape(answer['note'])}")
    out = console()
    if not results:
        out.print(f"no paper in {client.url} matches {escape(query)!r}")
    for p in results:
        out.print(f"[bold]{p['id']}[/]  {escape(p['title'])}  [dim]({escape(p['lab'])}, score {p['score']})[/]")
        out.print(f"  {escape(' '.join(str(p.get('snippet') or '').split()))}", highlight=False)


def register(app: typer.Typer) -> None:
    group = typer.Typer(name="archive", help="The shared preprint archive (AgentRxiv): serve it, list, search.",
                        no_args_is_help=True)
    group.command("serve")(serve)
    group.command("list")(list_papers)
    group.command("search")(search)
    app.add_typer(group, name="archive")
