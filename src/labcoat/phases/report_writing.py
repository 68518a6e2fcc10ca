"""Report writing: the PhD drafts the paper section by section, the Professor edits it (the paper-solver).

Outputs, in `<run>/report/`: report.tex, references.bib (retrieved papers
only), metrics_table.tex and figures/ generated from the recorded results,
report.pdf (or report.md when LaTeX cannot or may not run, saying why) and
integrity.json. Reviewers' notes from an earlier round reach the agents
through the phase notes.
"""

from __future__ import annotations

from labcoat.artefacts import Report
from labcoat.workflow.context import RunContext
from labcoat.solvers.paper.inputs import PaperInputs
from labcoat.solvers.paper.solver import PaperSolver

NAME = "report_writing"
FOLDER = "report"


def run(ctx: RunContext) -> Report:
    inputs = PaperInputs.from_artefacts(ctx.config.topic, ctx.artefacts)
    folder = ctx.artefact_dir(FOLDER)
    for stale in ("reviews.json", "README.md"):
        (folder / stale).unlink(missing_ok=True)  # they judged an earlier version
    return PaperSolver(ctx, inputs, folder).run()


def summarise(report: Report) -> str:
    where = report.pdf or report.markdown or report.tex
    score = f"reviewer score {report.score:g}/10" if report.score is not None else "not scored"
    return (f"Report '{report.title}' at {where}; {score}; integrity: {report.integrity_errors} error(s), "
            f"{report.integrity_warnings} warning(s); {len(report.cited)} papers cited."
            + (f" {report.compile_note}" if report.compile_note else ""))
