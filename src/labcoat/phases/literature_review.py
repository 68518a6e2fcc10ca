"""Literature review: the PhD searches, reads and adds papers until N are in.

Guards against Agent Laboratory's known failure modes: a paper that never
appeared in a search cannot be added (no invented citations), a paper cannot
be added twice, an identical search is refused, and at the step cap the
phase proceeds with what it has and records a warning.
"""

from __future__ import annotations

import re

from labcoat.agents.commands import AddPaper, FullText, Search
from labcoat.agents.dialogue import clip
from labcoat.agents.prompting import Prompts
from labcoat.artefacts import LitReview, PaperRead, PaperRecord
from labcoat.workflow.context import RunContext
from labcoat.phases.common import PhaseTalk, system_for

NAME = "literature_review"
ABSTRACT_SHOWN = 600  # characters of each abstract a search result shows


def run(ctx: RunContext) -> LitReview:
    target = ctx.config.budget.lit_review_papers
    cap = ctx.config.budget.steps_for(NAME, 30)
    review = LitReview(target=target)
    if target == 0:
        return review
    sources = []
    if ctx.config.library.path:
        sources.append("your local paper library")
    if ctx.config.archive.url or ctx.config.archive.enabled:
        sources.append("the lab archive")
    phd = system_for(ctx, Prompts(), "phd", [Search, FullText, AddPaper],
                     extra={"target": target, "max_steps": cap, "sources": ", ".join(sources)})
    talk = PhaseTalk(ctx, cap)
    retrieved: dict[str, dict] = {}
    added: dict[str, PaperRecord] = {}
    reads: dict[str, list[PaperRead]] = {}  # sections read with full_text, per paper id
    unavailable: set[str] = set()
    # The lab's own first search, on the topic's words: every model starts from
    # real candidates, and a small one has ids to choose from at its first step.
    _search(ctx, talk, 0, Search(query=topic_query(ctx.config.topic), source="all"), retrieved, unavailable,
            who="The lab searched the topic first")
    step = 0
    while len(added) < target and step < cap:
        step += 1
        extra = f"Papers added: {len(added)} of {target}." + _shelf(retrieved, added)
        commands, choices = _allowed(retrieved, added)
        cmd = talk.ask(phd, step, extra=extra, commands=commands, choices=choices)
        if talk.repeated(phd, cmd, step):
            continue
        if isinstance(cmd, Search):
            _search(ctx, talk, step, cmd, retrieved, unavailable)
        elif isinstance(cmd, FullText):
            _full_text(ctx, talk, step, cmd, retrieved, reads)
        elif isinstance(cmd, AddPaper):
            _add(ctx, talk, step, cmd, retrieved, added)
    # what was read of each paper: its abstract (shown before it was added) and the sections read
    review.papers = [p.model_copy(update={"reads": [*(p.reads or []), *reads.get(p.id, [])]}) for p in added.values()]
    review.steps_used = step
    review.unavailable_sources = sorted(unavailable)
    if len(added) < target:
        warning = (f"literature review stopped at its step cap ({cap}) with {len(added)} of {target} papers; "
                   "the run proceeds with these")
        ctx.warn(warning)
        review.warnings.append(warning)
    return review


STOPWORDS = frozenset("""a an and are as at be between by can do does for from how in into is it its of on or
over than that the their these this three to two under using versus vs what when whether which with without""".split())


def topic_query(topic: str, limit: int = 10) -> str:
    """The topic's content words, in order and without repeats: a search query, not a sentence."""
    words, seen = [], set()
    for word in re.findall(r"[A-Za-z][\w+-]*", topic):
        low = word.lower()
        if low in STOPWORDS or low in seen or len(low) < 3:
            continue
        seen.add(low)
        words.append(word)
    return " ".join(words[:limit]) or topic[:200]


def _allowed(retrieved: dict, added: dict) -> tuple[list[type], dict[str, list[str]]]:
    """This step's commands and the ids each may name: reading needs a retrieved paper, adding one not yet added."""
    waiting = [pid for pid in reversed(list(retrieved)) if pid not in added]
    commands: list[type] = [Search]
    choices: dict[str, list[str]] = {}
    if retrieved:
        commands.append(FullText)
        choices["full_text.paper_id"] = list(reversed(list(retrieved)))
    if waiting:
        commands.append(AddPaper)
        choices["add_paper.paper_id"] = waiting
    return commands, choices


def _shelf(retrieved: dict, added: dict, limit: int = 12) -> str:
    """The retrieved papers not yet added (most recent first, bounded), so older
    search results stay usable after they leave the prompt's window."""
    waiting = [p for pid, p in reversed(list(retrieved.items())) if pid not in added][:limit]
    if not waiting:
        return ""
    lines = [f"- id {p['id']} | {p['title']}" for p in waiting]
    return "\nRetrieved and not yet added:\n" + "\n".join(lines) + "\n"


def _search(ctx: RunContext, talk: PhaseTalk, step: int, cmd: Search, retrieved: dict, unavailable: set,
            who: str = "") -> None:
    result = ctx.tools.search(ctx.key("step", step, "search"), cmd.query, source=cmd.source, max_results=5)
    for name in result.get("unavailable", []) or []:
        unavailable.add(name)
    if "error" in result:
        if result.get("kind") == "unreachable":
            unavailable.add(result.get("source", cmd.source))
        talk.feedback(step, f"Search failed: {result['error']}", tool="search", error=result["error"])
        return
    papers = result.get("papers", [])
    if not papers:
        talk.feedback(step, f"No papers found for '{cmd.query}'. Try other words.", tool="search", found=0)
        return
    heading = f"{who}: search results" if who else "Search results"
    lines = [f"{heading} for '{cmd.query}':"]
    # A source that answered in a fallback mode (the archive while its embedding model loads) says so.
    lines += [f"(note: {note})" for note in dict.fromkeys(p["search_note"] for p in papers if p.get("search_note"))]
    for p in papers:
        retrieved[p["id"]] = p
        year = (p.get("published") or "")[:4]
        lines.append(f"- id {p['id']} | {p['title']} ({year}; {', '.join(p.get('authors', [])[:3])})\n"
                     f"  {clip(' '.join((p.get('abstract') or '').split()), ABSTRACT_SHOWN)}")
    talk.feedback(step, "\n".join(lines), f"search '{cmd.query}' → {', '.join(p['id'] for p in papers)}",
                  whole=True, tool="search", found=len(papers), ids=[p["id"] for p in papers])


def _full_text(ctx: RunContext, talk: PhaseTalk, step: int, cmd: FullText, retrieved: dict,
               reads: dict[str, list[PaperRead]]) -> None:
    if cmd.paper_id not in retrieved:
        talk.feedback(step, f"Refused: '{cmd.paper_id}' did not appear in your search results. "
                            "Search for it first and use the exact id shown.", refused="not_retrieved")
        return
    result = ctx.tools.full_text(ctx.key("step", step, "full_text"), cmd.paper_id,
                                 section=cmd.section or None, max_chars=6000)
    if "error" in result:
        talk.feedback(step, f"Could not read {cmd.paper_id}: {result['error']}", tool="full_text")
        return
    part = result.get("section") or "start"
    if (result.get("chunks") or 1) > 1:
        part += f" (part {int(result.get('chunk') or 0) + 1} of {result['chunks']})"
    reads.setdefault(cmd.paper_id, []).append(
        PaperRead(part=part, how="read with full_text in the literature review", text=result.get("text", "")))
    sections = ", ".join(result.get("sections", [])[:30])
    text = (f"{cmd.paper_id}, section '{result.get('section') or 'start'}' (sections: {sections}):\n"
            f"{result.get('text', '')}")
    talk.feedback(step, text, f"read {cmd.paper_id} {result.get('section') or ''}".strip(), whole=True,
                  tool="full_text")


def _add(ctx: RunContext, talk: PhaseTalk, step: int, cmd: AddPaper, retrieved: dict, added: dict) -> None:
    if cmd.paper_id in added:
        talk.feedback(step, f"Refused: {cmd.paper_id} is already in the review. Add a different paper.",
                      refused="duplicate")
        return
    paper = retrieved.get(cmd.paper_id)
    if paper is None:
        talk.feedback(step, f"Refused: '{cmd.paper_id}' was never retrieved in this review; only papers from "
                            "your search results can be added (use the exact id).", refused="not_retrieved")
        return
    if not cmd.summary.strip():
        talk.feedback(step, "Refused: the summary is empty. Say what the paper contributes.", refused="empty")
        return
    bib = ctx.tools.bibtex(paper)
    match = re.match(r"\s*@\w+\{([^,]+),", bib)
    year = (paper.get("published") or "")[:4]
    added[cmd.paper_id] = PaperRecord(
        id=paper["id"], title=paper["title"], authors=list(paper.get("authors", [])),
        year=int(year) if year.isdigit() else None, source=paper.get("source", "arxiv"),
        url=paper.get("url"), summary=cmd.summary.strip(),
        bibtex_key=match.group(1).strip() if match else paper["id"], bibtex=bib,
        reads=[PaperRead.abstract(paper.get("abstract") or "", ABSTRACT_SHOWN,
                                  "shown in search results; added with the PhD's summary")],
    )
    talk.feedback(step, f"Added {cmd.paper_id} ({len(added)} of {ctx.config.budget.lit_review_papers}).",
                  f"added {cmd.paper_id}", tool="add_paper", paper_id=cmd.paper_id)
