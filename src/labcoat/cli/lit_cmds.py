"""`labcoat lit search|text|bib` and `labcoat data search|info`: the research tools by hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from labcoat.cli.output import console, err_console

ConfigOpt = typer.Option(None, "--config", "-c", help="research config (YAML) for service URLs and the library")
JsonOpt = typer.Option(False, "--json", help="print the raw result as JSON")


def _tools(config_path: Optional[Path]):
    from labcoat.config.loading import config_from_mapping, load_config
    from labcoat.run.services import research_tools

    config = load_config(config_path) if config_path else config_from_mapping({"topic": "literature lookup"})
    return research_tools(config)


def _finish(tools, result: dict, as_json: bool, show) -> None:
    try:
        if "error" in result:
            kind = f" ({result['kind']})" if result.get("kind") else ""
            err_console().print(f"[bold red]error{kind}:[/] {escape(result['error'])}", highlight=False)
            raise typer.Exit(1)
        if as_json:
            console().print_json(json.dumps(result, ensure_ascii=False))
        else:
            show(result)
    finally:
        tools.close()


def register(app: typer.Typer) -> None:
    lit = typer.Typer(help="Search arXiv and your paper library, read papers, make BibTeX.", no_args_is_help=True)
    data = typer.Typer(help="Find datasets on the Hugging Face Hub.", no_args_is_help=True)
    app.add_typer(lit, name="lit")
    app.add_typer(data, name="data")

    @lit.command("search")
    def lit_search(query: str, max_results: int = typer.Option(5, "--max", "-n", min=1, max=200),
                   source: str = typer.Option("arxiv", help="arxiv, library, archive or all"),
                   config: Optional[Path] = ConfigOpt, as_json: bool = JsonOpt) -> None:
        """Search for papers."""
        tools = _tools(config)

        def show(result: dict) -> None:
            out = console()
            if not result["papers"]:
                out.print(f"no papers found for '{escape(query)}'")
            for p in result["papers"]:
                year = (p.get("published") or "")[:4]
                authors = ", ".join(p.get("authors", [])[:3]) + (" et al." if len(p.get("authors", [])) > 3 else "")
                out.print(f"[bold]{escape(p['id'])}[/]  {escape(p['title'])} ({year})\n    {escape(authors)}")
            for name in result.get("unavailable", []):
                err_console().print(f"[yellow]warning:[/] {name} could not be reached")

        _finish(tools, tools.search(None, query, source=source, max_results=max_results), as_json, show)

    @lit.command("text")
    def lit_text(paper: str = typer.Argument(..., help="an arXiv id, a library id (lib:...) or a PDF file"),
                 section: Optional[str] = typer.Option(None, "--section", "-s", help="name or number of a section"),
                 max_chars: int = typer.Option(20000, "--max-chars", min=200),
                 chunk: int = typer.Option(0, "--chunk", min=0, help="which chunk of a long section"),
                 config: Optional[Path] = ConfigOpt, as_json: bool = JsonOpt) -> None:
        """Print a paper's text, or one section of it."""
        tools = _tools(config)
        if paper.lower().endswith(".pdf") or Path(paper).is_file():
            result = tools.text_of_file(Path(paper), section=section, max_chars=max_chars, chunk=chunk)
        else:
            result = tools.full_text(None, paper, section=section, max_chars=max_chars, chunk=chunk)

        def show(r: dict) -> None:
            out = console()
            out.print(f"[dim]sections: {escape(', '.join(r['sections']))}[/]")
            if r.get("chunks", 1) > 1:
                out.print(f"[dim]chunk {r['chunk'] + 1} of {r['chunks']} (--chunk N for more)[/]")
            out.print(r["text"], markup=False)

        _finish(tools, result, as_json, show)

    @lit.command("bib")
    def lit_bib(paper_ids: list[str] = typer.Argument(..., help="arXiv ids"),
                config: Optional[Path] = ConfigOpt) -> None:
        """Print BibTeX entries for arXiv papers."""
        tools = _tools(config)
        result = tools.lookup(None, paper_ids)
        if "error" not in result and len(result["papers"]) < len(paper_ids):
            found = {p["id"].rsplit("v", 1)[0] for p in result["papers"]} | {p["id"] for p in result["papers"]}
            missing = [i for i in paper_ids if i not in found and i.rsplit("v", 1)[0] not in found]
            result = {"error": f"not on arXiv: {', '.join(missing)}", "kind": "not_found"}

        def show(r: dict) -> None:
            for p in r["papers"]:
                console().print(tools.bibtex(p), end="", markup=False)

        _finish(tools, result, False, show)

    @data.command("search")
    def data_search(query: str, limit: int = typer.Option(5, "--limit", "-n", min=1, max=50),
                    sort: str = typer.Option("downloads", help="downloads, likes, last_modified, created_at"),
                    filters: Optional[list[str]] = typer.Option(None, "--filter", help="a Hub tag, e.g. language:en"),
                    config: Optional[Path] = ConfigOpt, as_json: bool = JsonOpt) -> None:
        """Search datasets on the Hugging Face Hub."""
        tools = _tools(config)

        def show(r: dict) -> None:
            out = console()
            if not r["datasets"]:
                out.print(f"no datasets found for '{escape(query)}'")
            for d in r["datasets"]:
                out.print(f"[bold]{escape(d['id'])}[/]  downloads {d.get('downloads')}  likes {d.get('likes')}\n"
                          f"    {escape((d.get('description') or '')[:160])}")

        _finish(tools, tools.hf_search(None, query, limit=limit, sort=sort, filters=filters or None), as_json, show)

    @data.command("info")
    def data_info(dataset_id: str, config: Optional[Path] = ConfigOpt, as_json: bool = JsonOpt) -> None:
        """Splits, sizes and features of a Hub dataset."""
        tools = _tools(config)

        def show(r: dict) -> None:
            out = console()
            out.print(f"[bold]{escape(r['id'])}[/]  downloads {r.get('downloads')}  license {r.get('license')}")
            for cfg in r.get("configs", []):
                splits = ", ".join(f"{k}: {v['rows']} rows" for k, v in cfg["splits"].items())
                out.print(f"  config {escape(str(cfg['config']))}: {escape(splits)}")
                out.print(f"    features: {escape(json.dumps(cfg['features'], ensure_ascii=False))}")

        _finish(tools, tools.hf_info(None, dataset_id), as_json, show)
