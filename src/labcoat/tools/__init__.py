"""Research tools: arXiv, full text, a local paper library, BibTeX, Hugging Face datasets.

Phases reach them through `labcoat.tools.research.ResearchTools` (``ctx.tools``).
"""
