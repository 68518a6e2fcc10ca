"""labcoat: LLM agents that carry a research idea from literature review to a reviewed report."""

__version__ = "0.1.0"
