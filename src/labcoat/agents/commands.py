"""The commands agents issue, as typed models (parsed by labcoat.llm.commands).

Control fields travel as structured output; code travels as a fenced body.
Each docstring is what the agent reads about the command in its prompt.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from labcoat.artefacts import DatasetSpec, MetricSpec
from labcoat.llm.commands import Command, fenced


class Dialogue(Command):
    """Say something to the other agent."""

    command: Literal["dialogue"] = "dialogue"
    text: str


class Search(Command):
    """Search for papers. `source` is one of arxiv, library, archive or all."""

    command: Literal["search"] = "search"
    query: str
    source: Literal["arxiv", "library", "archive", "all"] = "all"


class FullText(Command):
    """Read a retrieved paper by id; give `section` (a section name) to read only that part, or an empty string for the outline and start."""

    command: Literal["full_text"] = "full_text"
    paper_id: str
    section: str = ""


class AddPaper(Command):
    """Add a retrieved paper to the literature review, with your summary of what it contributes to the topic."""

    command: Literal["add_paper"] = "add_paper"
    paper_id: str
    summary: str


class SubmitPlan(Command):
    """Submit the finished research plan."""

    command: Literal["plan"] = "plan"
    question: str
    hypotheses: list[str]
    datasets: list[DatasetSpec]
    method: str
    baselines: list[str]
    metrics: list[MetricSpec]
    protocol: str
    figures: list[str]
    compute_budget: str


class HFSearch(Command):
    """Search the Hugging Face Hub for data sets."""

    command: Literal["hf_search"] = "hf_search"
    query: str


class RunCode(Command):
    """Run a Python program in the sandbox and see its output (no network; prepared inputs are read-only)."""

    command: Literal["run_code"] = "run_code"
    code: str = fenced("python")


class SubmitCode(Command):
    """Submit the data-preparation program; it is accepted only if it runs without error. List every subsampling you did in `subsampling`."""

    command: Literal["submit_code"] = "submit_code"
    data_source: str
    data_version: str
    subsampling: list[str] = Field(default_factory=list)
    code: str = fenced("python")


class SubmitInterpretation(Command):
    """Submit the interpretation of the results: the text and its main claims. Numbers only from the recorded metrics."""

    command: Literal["interpretation"] = "interpretation"
    text: str
    claims: list[str]
