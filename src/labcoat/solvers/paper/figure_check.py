"""Figures looked at: each is shown, with its caption and the recorded numbers, to a model that sees images.

The writing model (the Professor) looks, or else the reviewer, whichever
model accepts images (`labcoat.llm.vision`). Each figure is one recorded
call: the image, its caption and the recorded metrics table; the model
lists what is wrong (unlabelled axes, a caption that claims what the figure
does not show, unreadable text, values that disagree with the records).
Those problems become edit feedback. With text-only models nothing is sent
and a note says the figures were not looked at.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Literal

from labcoat.agents.prompting import Prompts
from labcoat.llm.commands import Command
from labcoat.llm.presets import parse_model
from labcoat.llm.vision import MEDIA_TYPES, accepts_images, image_part
from labcoat.solvers.paper.writers import writer
from labcoat.workflow.context import RunContext

LOOKERS = ("professor", "reviewer")


class FigureVerdict(Command):
    """Report what is wrong with the figure shown: one item per problem (axes without labels or units, a caption that claims what the figure does not show, unreadable text, plotted values that disagree with the recorded numbers); an empty list when the figure is fine."""

    command: Literal["figure_check"] = "figure_check"
    problems: list[str]


@dataclass
class FigureChecks:
    """What the look at the figures found, or why there was none."""

    model: str = ""
    problems: dict[str, list[str]] = field(default_factory=dict)  # figure name -> problems
    notes: list[str] = field(default_factory=list)

    def feedback(self) -> str:
        found = [f"- {name}: {problem}" for name, problems in self.problems.items() for problem in problems]
        if not found:
            return ""
        return ("A look at the figures (by " + self.model + ") found problems; fix what the text and the captions "
                "say about them (the figures themselves come from the experiments):\n" + "\n".join(found))

    def to_dict(self) -> dict:
        return {"model": self.model, "problems": self.problems, "notes": self.notes}


def caption_of(name: str) -> str:
    """The caption the generated figures.tex gives a figure."""
    return PurePath(name).stem.replace("_", " ")


def check_figures(ctx: RunContext, figure_dir: Path, names: list[str], records: str,
                  prompts: Prompts | None = None) -> FigureChecks:
    from labcoat.llm.registry import MalformedReply

    checks = FigureChecks()
    if not names:
        return checks
    models = {role: parse_model(ctx.models.model_for(role)) for role in LOOKERS}
    role = next((r for r in LOOKERS if accepts_images(models[r])), None)
    if role is None:
        checks.notes.append("the figures were not looked at: the writing model (" + models["professor"].id
                            + ") and the reviewing model (" + models["reviewer"].id + ") take text only")
        return checks
    checks.model = models[role].id
    prompts = prompts or Prompts()
    looker = writer(ctx, prompts, role)
    for index, name in enumerate(names):
        path = figure_dir / name
        if path.suffix.lower() not in MEDIA_TYPES:
            checks.notes.append(f"figure {name} was not looked at: models see PNG, JPEG, GIF or WebP, not "
                                f"{path.suffix or 'a file without suffix'}")
            continue
        text = prompts.render("phases/report_writing_figure.j2", figure=name, caption=caption_of(name), records=records)
        try:
            reply = ctx.models.ask(key=ctx.key("figure", index), role=role, system=looker.system,
                                   messages=[{"role": "user", "content": [{"type": "text", "text": text},
                                                                          image_part(path)]}],
                                   commands=[FigureVerdict])
        except MalformedReply as exc:
            checks.notes.append(f"figure {name} was not looked at: {models[role].id} sent no valid verdict ({exc})")
            continue
        problems = [p.strip() for p in reply.command.problems if p.strip()]
        checks.problems[name] = problems
        ctx.emit("figure_check", {"figure": name, "model": checks.model, "problems": problems})
    return checks
