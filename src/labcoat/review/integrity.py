"""The integrity check: everything a paper states must come from the run.

Rules, applied to the body (after `\\begin{document}`) of the LaTeX text:

- **Numbers.** Each stated number must round to a recorded number (metrics,
  log values, data sizes, numbers the plan or the task notes set), to a
  difference of two recorded metrics (a ratio for "3.2x", when at most 24
  metrics are recorded), or to a literal of the recorded code
  (hyper-parameters such as lr=0.001), or state a convention
  (`review.conventions`: "95% CI", "p < 0.05", "80/20 split"). Rounding
  follows the digits written (0.87 and 87.3% both match 0.8732; 87% too).
  Not checked: years 1900-2100, whole numbers 0-10 (counts and enumerations,
  "3 seeds"; numbers written as words are never numbers here), cross-reference
  numbers ("Table 2", "Section 3.1"), numbers inside \\ref, \\label, \\cite,
  \\includegraphics and other layout commands, lengths, dates, arXiv ids.
  A number in a sentence that cites papers is first looked for in the text
  the run read of them (`review.cited_sources`): not found, it is an error,
  or a warning that it could not be verified when only abstracts were read.
- **Citations.** Every \\cite key must be in references.bib and belong to a
  paper retrieved during the run and read (some of its text, at least the
  abstract, was shown to an agent); `citations` lists what was read of each.
- **Figures.** Every \\includegraphics file must exist.
- **Subsampling.** Every recorded subsampling note must be stated: its
  numbers (those above 10) appear close together in the paper.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from labcoat.review.cited_sources import Source, attribute
from labcoat.review.conventions import convention_spans
from labcoat.review.number_sources import candidates, ratios, source_of
from labcoat.review.paper_numbers import Stated, blank_non_claims, number_matches, stated_numbers

FIGURE_EXTENSIONS = ("", ".pdf", ".png", ".jpg", ".jpeg", ".eps")
_CITE = re.compile(r"\\(?:no)?cite[A-Za-z]*\*?(?:\[[^\]]*\]){0,2}\{([^}]*)\}")
_BIB_KEY = re.compile(r"@(?!comment|string|preamble)[A-Za-z]+\s*[{(]\s*([^,\s]+)\s*,", re.IGNORECASE)
GRAPHICS = re.compile(r"\\includegraphics\*?(?:\[[^\]]*\])?\{([^}]*)\}")
COMMENT = re.compile(r"(?<!\\)%[^\n]*")
# Sentence ends; table cells and rows, and environment edges, also end a claim's context.
_SENTENCE_END = re.compile(r"[.!?](?=\s)|\n\s*\n|\\\\|(?<!\\)&|\\(?:begin|end)\{")
_SUBSAMPLE_WINDOW = 600


@dataclass
class Finding:
    kind: str  # unsupported_number | unknown_citation | unretrieved_citation | missing_figure | unstated_subsampling
    severity: str  # error | warning
    message: str
    fix: str
    line: int | None = None
    text: str = ""
    file: str = ""

    def describe(self) -> str:
        where = f"{self.file + ' ' if self.file else ''}line {self.line}: " if self.line else ""
        return f"{where}{self.message} Fix: {self.fix}"


@dataclass
class IntegrityReport:
    findings: list[Finding] = field(default_factory=list)
    matched: list[dict[str, Any]] = field(default_factory=list)  # number, line, source
    citations: list[dict[str, Any]] = field(default_factory=list)  # key, what of the paper the run read
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "errors": len(self.errors), "warnings": len(self.warnings), **self.counts,
                "findings": [asdict(f) for f in self.findings], "matched": self.matched,
                "citations_read": self.citations}

    def merge(self, other: "IntegrityReport", file: str) -> None:
        """Add the findings of an included file, tagged with its name."""
        for finding in other.findings:
            finding.file = file
            self.findings.append(finding)
        self.matched += [{**m, "file": file} for m in other.matched]
        known = {c["key"] for c in self.citations}
        self.citations += [c for c in other.citations if c["key"] not in known]
        for name, count in other.counts.items():
            self.counts[name] = self.counts.get(name, 0) + count

    def feedback(self, limit: int = 12) -> str:
        """The findings as text for the model's next edit."""
        if not self.findings:
            return "Integrity check passed: every number, citation and figure is backed by the run."
        head = f"Integrity check: {len(self.errors)} error(s), {len(self.warnings)} warning(s)."
        lines = [head, *(f"- {f.severity}: {f.describe()}" for f in self.findings[:limit])]
        if len(self.findings) > limit:
            lines.append(f"- … and {len(self.findings) - limit} more")
        return "\n".join(lines)


def bib_keys(bib: str) -> set[str]:
    return {match.group(1) for match in _BIB_KEY.finditer(bib)}


def _line_of(starts: list[int], offset: int) -> int:
    return bisect.bisect_right(starts, offset)


def _sentence(text: str, ends: list[int], offset: int) -> str:
    """The sentence around `offset`, given the sorted offsets where sentences end."""
    index = bisect.bisect_right(ends, offset)
    begin = ends[index - 1] if index else 0
    return text[begin:ends[index] if index < len(ends) else len(text)]


def _check_numbers(tex: str, blanked: str, starts: list[int], pool: list[tuple[float, str]],
                   ratio_pool: list[tuple[float, str]], sources: dict[str, Source] | None,
                   report: IntegrityReport) -> None:
    plain = COMMENT.sub(lambda m: " " * len(m.group(0)), tex)  # offsets must stay those of `blanked`
    ends = [m.end() for m in _SENTENCE_END.finditer(plain)]
    spans = convention_spans(blanked)
    checked = 0
    for stated in stated_numbers(blanked):
        if _exempt(stated):
            continue
        checked += 1
        line = _line_of(starts, stated.start)
        keys = [k.strip() for m in _CITE.finditer(_sentence(plain, ends, stated.start)) for k in m.group(1).split(",")
                if k.strip()]
        verdict = attribute(stated, keys, sources) if keys and sources is not None else None
        source = verdict.source if verdict else None
        source = source or source_of(stated, pool, ratio_pool, spans)
        if source is not None:
            report.matched.append({"number": stated.text, "line": line, "source": source})
            continue
        if verdict is not None:
            report.findings.append(Finding("unsupported_number", verdict.severity, verdict.message, verdict.fix,
                                           line=line, text=stated.text))
            continue
        report.findings.append(Finding(
            "unsupported_number", "warning" if keys else "error",
            f"'{stated.text}' matches no number the run recorded" + (" (the sentence cites a paper)." if keys else "."),
            "check it against the cited paper." if keys else
            "use a recorded value (see the results table), or remove the claim.",
            line=line, text=stated.text))
    report.counts["numbers_checked"] = checked
    report.counts["numbers_matched"] = len(report.matched)


def _exempt(stated: Stated) -> bool:
    if stated.percent or not stated.integer:
        return False
    return stated.magnitude <= 10 or 1900 <= stated.value <= 2100


def _check_citations(tex: str, bib: str, retrieved: set[str], sources: dict[str, Source] | None,
                     starts: list[int], report: IntegrityReport) -> None:
    known = bib_keys(bib)
    plain = COMMENT.sub(lambda m: " " * len(m.group(0)), tex)
    seen: set[str] = set()
    for match in _CITE.finditer(plain):
        line = _line_of(starts, match.start())
        for key in (k.strip() for k in match.group(1).split(",")):
            if not key or key == "*" or key in seen:
                continue
            seen.add(key)
            if key not in known:
                report.findings.append(Finding(
                    "unknown_citation", "error", f"\\cite key '{key}' is not in references.bib.",
                    "cite a key from references.bib, or search for the paper so it is retrieved and added.",
                    line=line, text=key))
            elif key not in retrieved:
                report.findings.append(Finding(
                    "unretrieved_citation", "error", f"'{key}' was never retrieved during the run.",
                    "cite only papers the literature review retrieved; remove this citation or retrieve the paper.",
                    line=line, text=key))
            elif sources is not None and key in sources and not sources[key].read:
                report.findings.append(Finding(
                    "unread_citation", "error", f"'{key}' was retrieved but nobody read it: no text of it (not even "
                    "an abstract) was shown to an agent.",
                    "cite only papers the run read; remove this citation.", line=line, text=key))
            if sources is not None and key in sources:
                report.citations.append({"key": key, "read": sources[key].described()})
    report.counts["citations"] = len(seen)


def _figure_exists(name: str, figure_dir: Path) -> bool:
    if name.startswith("/") or ".." in Path(name).parts:
        return False
    for base in (figure_dir, figure_dir.parent):
        for ext in FIGURE_EXTENSIONS:
            if (base / (name + ext)).is_file():
                return True
    return False


def _check_figures(tex: str, figure_dir: Path, starts: list[int], report: IntegrityReport) -> None:
    plain = COMMENT.sub(lambda m: " " * len(m.group(0)), tex)
    count = 0
    for match in GRAPHICS.finditer(plain):
        count += 1
        name = match.group(1).strip()
        if not _figure_exists(name, figure_dir):
            report.findings.append(Finding(
                "missing_figure", "error", f"figure file '{name}' does not exist.",
                "include only figures the experiments produced (listed in the results).",
                line=_line_of(starts, match.start()), text=name))
    report.counts["figures"] = count


def _stated_in_paper(note: str, paper: list[Stated], plain: str) -> bool:
    wanted = [s for s in stated_numbers(note) if not _exempt(s)]
    if not wanted:
        words = {w.lower() for w in re.findall(r"[A-Za-z]{4,}", note)}
        text = plain.lower()
        return bool(words) and sum(w in text for w in words) >= 0.6 * len(words)
    for anchor in paper:
        if not number_matches(anchor, wanted[0].value):
            continue
        near = [s for s in paper if abs(s.start - anchor.start) <= _SUBSAMPLE_WINDOW]
        if all(any(number_matches(s, w.value) or number_matches(w, s.value) for s in near) for w in wanted):
            return True
    return False


def _check_subsampling(tex: str, blanked: str, subsampling: list[str], report: IntegrityReport) -> None:
    paper = stated_numbers(blanked)
    plain = COMMENT.sub("", tex)
    for note in subsampling:
        if not _stated_in_paper(note, paper, plain):
            report.findings.append(Finding(
                "unstated_subsampling", "error", f"the data were subsampled but the paper does not say so: \"{note}\".",
                "state this subsampling, with its numbers, in the experimental setup.", text=note))
    report.counts["subsampling_notes"] = len(subsampling)


def check_integrity(tex: str, bib: str, *, recorded_numbers: list[dict[str, Any]], retrieved_keys: set[str],
                    figure_dir: Path, subsampling: list[str] = (), code_texts: list[str] = (),
                    sources: dict[str, Source] | None = None) -> IntegrityReport:
    """Check a paper against what the run recorded; see the module docstring for the rules.

    `recorded_numbers` are {"value": float, "source": str}; `retrieved_keys` the
    BibTeX keys of papers retrieved during the run; `sources` what the run read
    of each (`cited_sources.sources_of`; None: attributed numbers only warn).
    """
    starts = [0] + [i + 1 for i, ch in enumerate(tex) if ch == "\n"]
    blanked = blank_non_claims(tex)
    report = IntegrityReport()
    pool = candidates(list(recorded_numbers), list(code_texts), list(subsampling))
    _check_numbers(tex, blanked, starts, pool, ratios(list(recorded_numbers)), sources, report)
    _check_citations(tex, bib, set(retrieved_keys), sources, starts, report)
    _check_figures(tex, Path(figure_dir), starts, report)
    _check_subsampling(tex, blanked, list(subsampling), report)
    return report
