"""Numbers attributed to a cited paper, checked against the text of it the run read.

A number in a sentence that cites paper P is looked for in what the run
holds of P: its abstract and the sections an agent read. It matches with
the same tolerance as a recorded number (rounding as written, 0.873 =
87.3% = 87.3). Found, it is recorded with the part of P that states it.
Not found, it is an error when sections of P were read, and a warning
that the claim could not be verified when only the abstract was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from labcoat.review.paper_numbers import Stated, number_matches, stated_numbers


@dataclass
class Source:
    """What the run read of one cited paper."""

    key: str
    reads: list[Any] | None  # PaperRead-like (part, how, text); None: reading was not tracked
    _numbers: list[tuple[float, str]] | None = field(default=None, repr=False)

    @property
    def read(self) -> bool:
        return self.reads is None or any(str(r.text).strip() for r in self.reads)

    @property
    def sections_read(self) -> bool:
        return any(not r.part.startswith("abstract") and str(r.text).strip() for r in self.reads or [])

    def numbers(self) -> list[tuple[float, str]]:
        if self._numbers is None:
            self._numbers = [(s.value, r.part) for r in self.reads or [] for s in stated_numbers(str(r.text))]
        return self._numbers

    def find(self, stated: Stated) -> str | None:
        """The part of the paper that states `stated`, or None."""
        return next((part for value, part in self.numbers() if number_matches(stated, value)), None)

    def described(self) -> list[str]:
        """What was read, for integrity.json: "abstract: shown in search results; ..."."""
        if self.reads is None:
            return ["not recorded (the run predates tracking what was read)"]
        return [f"{r.part}: {r.how}" for r in self.reads if str(r.text).strip()]


def sources_of(review: Any) -> dict[str, Source]:
    """The citable papers of a LitReview (or None), by BibTeX key."""
    return {p.bibtex_key: Source(p.bibtex_key, p.reads) for p in (review.papers if review else [])}


@dataclass
class Attribution:
    """The verdict on a number attributed to cited papers."""

    source: str | None = None  # where it was found
    severity: str = "error"
    message: str = ""
    fix: str = ""


def attribute(stated: Stated, keys: list[str], sources: dict[str, Source]) -> Attribution:
    """Look for `stated` in the texts read of the cited `keys`."""
    cited = [sources[k] for k in keys if k in sources]
    for source in cited:
        part = source.find(stated)
        if part is not None:
            return Attribution(source=f"cited paper {source.key} ({part})")
    names = ", ".join(keys)
    if not cited or any(s.reads is None for s in cited):
        return Attribution(None, "warning", f"'{stated.text}' matches no number the run recorded, and the text of "
                           f"{names} cannot be checked (the run holds no record of what was read of it).",
                           "check it against the cited paper, or remove the number.")
    if not any(s.sections_read for s in cited):
        return Attribution(None, "warning", f"'{stated.text}' could not be verified: only the abstract of {names} "
                           "was read, and it does not state this number.",
                           "read the section that states it (full_text), or remove the number.")
    read = "; ".join(f"{s.key}: {', '.join(dict.fromkeys(r.part for r in s.reads or []))}" for s in cited)
    return Attribution(None, "error", f"'{stated.text}' is attributed to {names}, but the text the run read of it "
                       f"({read}) does not state it.",
                       "state the number the paper gives, or remove the claim.")
