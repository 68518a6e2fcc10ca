"""The papers a report may cite: the literature review's, plus those retrieved while writing.

BibTeX comes only from retrieved metadata (`ctx.tools.bibtex`); a key is
citable only if its paper is here, so `references.bib` never holds an
entry the run did not retrieve.
"""

from __future__ import annotations

import re
from typing import Any

from labcoat.agents.dialogue import clip
from labcoat.artefacts import LitReview, PaperRead, PaperRecord

_KEY = re.compile(r"(\s*@\w+\{)([^,]+),")
SHOWN_CHARS = 300  # of a paper's summary in search results and listings while drafting
MORE_KEYS = 40  # prompts stay bounded however many papers the run retrieved


def _some(keys: list[str], limit: int) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" and {len(keys) - limit} others" if len(keys) > limit else "")


class Library:
    def __init__(self, review: LitReview | None):
        self.papers: dict[str, PaperRecord] = {}
        self.added: list[PaperRecord] = []  # retrieved while writing
        for paper in (review.papers if review else []):
            self.papers[paper.bibtex_key] = paper

    def keys(self) -> set[str]:
        return set(self.papers)

    def has_id(self, paper_id: str) -> bool:
        return any(p.id == paper_id for p in self.papers.values())

    def add_retrieved(self, tools: Any, paper: dict) -> PaperRecord | None:
        """Make a search result citable; None when it already is."""
        if self.has_id(paper["id"]):
            return None
        bib = tools.bibtex(paper)
        match = _KEY.match(bib)
        key = match.group(2).strip() if match else paper["id"]
        unique, n = key, 1
        while unique in self.papers:
            n += 1
            unique = f"{key}-{chr(ord('a') + n - 1)}"
        if unique != key and match:
            bib = _KEY.sub(lambda m: f"{m.group(1)}{unique},", bib, count=1)
        year = (paper.get("published") or "")[:4]
        record = PaperRecord(
            id=paper["id"], title=paper["title"], authors=list(paper.get("authors", [])),
            year=int(year) if year.isdigit() else None, source=paper.get("source", "arxiv"), url=paper.get("url"),
            summary=clip(" ".join((paper.get("abstract") or "(no abstract)").split()), 600),
            bibtex_key=unique, bibtex=bib,
            reads=[PaperRead.abstract(paper.get("abstract") or "", SHOWN_CHARS,
                                      "shown to the writer in search results while drafting")])
        self.papers[unique] = record
        self.added.append(record)
        return record

    def bib(self) -> str:
        return "\n\n".join(p.bibtex.strip() for p in self.papers.values()) + "\n"

    def listing(self, summary_chars: int = SHOWN_CHARS, limit: int = 15) -> str:
        """Citable papers for a prompt: key, title, year and a clipped summary."""
        if not self.papers:
            return "Citable papers: none yet (use `search` to find some)."
        shown = list(self.papers.values())[:limit]
        lines = ["Citable papers (cite with \\citep{key}; a number you attribute to one is checked against what "
                 "the run read of it, listed after 'read:'):"]
        for p in shown:
            lines.append(f"- {p.bibtex_key}: {p.title} ({p.year or 'n.d.'}; read: {what_was_read(p)}). "
                         f"{clip(p.summary, summary_chars)}")
        if len(self.papers) > limit:
            lines.append(f"- … {len(self.papers) - limit} more: " + _some(list(self.papers)[limit:], MORE_KEYS))
        return "\n".join(lines)


def what_was_read(paper: PaperRecord) -> str:
    if paper.reads is None:
        return "not recorded"
    parts = [r.part for r in paper.reads if r.text.strip()]
    return ", ".join(dict.fromkeys(parts)) or "nothing (do not cite it)"
