"""Commands of the paper-solver's writers."""

from __future__ import annotations

from typing import Literal

from labcoat.llm.commands import Command, fenced


class DraftSection(Command):
    """Submit the LaTeX body of the section you were asked to draft (no \\section heading: the paper has it). Cite only the citable keys listed, with \\citep{key} or \\citet{key}."""

    command: Literal["section"] = "section"
    body: str = fenced("latex")


class EditPaper(Command):
    """Replace lines `start`..`end` of the paper (inclusive, numbers as shown) with the fenced new lines; end = start-1 inserts before `start`; an empty block deletes."""

    command: Literal["edit"] = "edit"
    start: int
    end: int
    new_lines: str = fenced("latex")


class ReplacePaper(Command):
    """Replace the paper from \\begin{document} to the end with the fenced LaTeX (the preamble stays; keep the \\input lines and bibliography)."""

    command: Literal["replace"] = "replace"
    paper: str = fenced("latex")
