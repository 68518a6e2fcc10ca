"""Drafting: each section in turn, from the slice of the run it needs, with search for citations.

A section gets a few turns: `search` (results become citable, their BibTeX
from the retrieved metadata) or `section` (the body). Each turn is one
fresh message holding the section's context, the citable papers, a short
outline of the sections drafted so far and this section's search results,
so a drafting call costs the same at the first section and the last.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from labcoat.agents.commands import Search
from labcoat.agents.dialogue import clip
from labcoat.agents.fallible import ask_or_skip
from labcoat.agents.prompting import Prompts
from labcoat.workflow.context import RunContext
from labcoat.report.lines import EditError, section_span, set_section
from labcoat.report.scaffold import SECTIONS
from labcoat.solvers.paper.commands import DraftSection
from labcoat.solvers.paper.inputs import SECTION_PIECES, PaperInputs
from labcoat.solvers.paper.library import SHOWN_CHARS, Library
from labcoat.solvers.paper.writers import Writer

# The abstract summarises the paper, so it is drafted last.
DRAFT_ORDER: tuple[str, ...] = (*(key for key, _ in SECTIONS), "abstract")
HEADINGS = {"abstract": "Abstract", **dict(SECTIONS)}
DRAFT_TURNS = 3
SEARCH_RESULTS = 5


class Drafter:
    def __init__(self, ctx: RunContext, inputs: PaperInputs, library: Library, speaker: Callable[[], Writer],
                 prompts: Prompts):
        """`speaker()` is the drafting writer as of now: its system prompt lists the citable papers, which a
        search adds to."""
        self.ctx = ctx
        self.inputs = inputs
        self.library = library
        self.speaker = speaker
        self.prompts = prompts
        self.outline: dict[str, str] = {}
        self.searched: set[str] = set()

    def draft_all(self, tex: str) -> str:
        for index, key in enumerate(DRAFT_ORDER, start=1):
            self.ctx.progress.step(self.ctx.phase or "", index, len(DRAFT_ORDER), f"drafting {HEADINGS[key]}")
            tex = self.draft(key, tex)
        return tex

    def context_for(self, key: str) -> str:
        return "\n\n".join(p for p in (self.inputs.piece(piece) for piece in SECTION_PIECES[key]) if p)

    def draft(self, key: str, tex: str) -> str:
        found: list[str] = []
        feedback = ""
        for turn in range(DRAFT_TURNS):
            last = turn == DRAFT_TURNS - 1
            message = self.prompts.render(
                "phases/report_writing_section.j2", section=key, heading=HEADINGS[key],
                context=self.context_for(key),
                outline=[f"{HEADINGS[k]}: {v}" for k, v in self.outline.items()],
                found="\n".join(found[-8:]), feedback=feedback, turn=turn + 1, turns=DRAFT_TURNS, last=last)
            commands = [DraftSection] if last else [Search, DraftSection]
            speaker = self.speaker()
            cmd = ask_or_skip(self.ctx, key=self.ctx.key("draft", key, turn), role=speaker.role,
                              system=speaker.system, messages=[{"role": "user", "content": message}],
                              commands=commands)
            if cmd is None:
                feedback = f"Your last reply had no valid command. Submit the {HEADINGS[key]} section's text."
                continue
            if isinstance(cmd, Search):
                found.append(self._search(key, turn, cmd))
                continue
            body = clean_body(key, cmd.body)
            if not body:
                feedback = f"Your draft of {HEADINGS[key]} was empty. Submit the section's text."
                continue
            unknown = sorted(cited_keys(body) - self.library.keys())
            if unknown and not last:
                feedback = (f"Your draft of {HEADINGS[key]} was sent back: it cites {', '.join(unknown)}, which no "
                            "search retrieved. Cite only the citable keys, or `search` for the paper first.")
                self.ctx.emit("paper_draft", {"section": key, "turn": turn, "refused": "unknown citations",
                                              "keys": unknown})
                continue
            try:
                drafted = set_section(tex, key, body)
            except EditError as exc:
                feedback = f"Your draft of {HEADINGS[key]} was refused: {exc}. Submit it again, well-formed."
                self.ctx.emit("paper_draft", {"section": key, "turn": turn, "refused": str(exc)})
                continue
            self.outline[key] = clip(" ".join(body.split()), 160)
            first, last_line = section_span(drafted, key)
            self.ctx.emit("paper_draft", {"section": key, "turn": turn, "lines": [first, last_line]})
            return drafted
        warning = f"the {HEADINGS[key]} section could not be drafted in {DRAFT_TURNS} turns; it is left empty"
        self.ctx.warn(warning)
        return tex

    def _search(self, key: str, turn: int, cmd: Search) -> str:
        if cmd.query in self.searched:
            return f"Search '{cmd.query}': refused, you searched this already."
        self.searched.add(cmd.query)
        result = self.ctx.tools.search(self.ctx.key("draft", key, turn, "search"), cmd.query, source=cmd.source,
                                       max_results=SEARCH_RESULTS)
        if "error" in result:
            return f"Search '{cmd.query}' failed: {result['error']}"
        added = [self.library.add_retrieved(self.ctx.tools, paper) for paper in result.get("papers", [])]
        added = [record for record in added if record is not None]
        self.ctx.emit("paper_search", {"section": key, "query": cmd.query, "added": [r.bibtex_key for r in added]})
        if not added:
            return f"Search '{cmd.query}': nothing new."
        lines = [f"Search '{cmd.query}' found these, now citable:"]
        lines += [f"- {r.bibtex_key}: {r.title} ({r.year or 'n.d.'}). {clip(r.summary, SHOWN_CHARS)}" for r in added]
        return "\n".join(lines)


_CITE = re.compile(r"\\(?:no)?cite[A-Za-z]*\*?(?:\[[^\]]*\]){0,2}\{([^}]*)\}")


def cited_keys(tex: str) -> set[str]:
    return {key.strip() for match in _CITE.finditer(tex) for key in match.group(1).split(",") if key.strip()}


_HEADING = re.compile(r"\A\s*\\(?:sub)*section\*?\{[^}]*\}(?:\\label\{[^}]*\})?[ \t]*\n?")
_ABSTRACT = re.compile(r"\A\s*\\begin\{abstract\}(.*)\\end\{abstract\}\s*\Z", re.DOTALL)


def clean_body(key: str, body: str) -> str:
    """The body without a heading or abstract environment the paper already has."""
    body = body.strip()
    wrapped = _ABSTRACT.match(body) if key == "abstract" else None
    if wrapped:
        body = wrapped.group(1).strip()
    return _HEADING.sub("", body, count=1).strip()
