"""The one Jinja setup for labcoat's prompts and documents (the dashboard's HTML has its own, autoescaping).

Templates are plain text: no autoescape, an undefined name is an error
(never an empty string in a prompt), block tags leave no blank lines.
LaTeX templates use `((( var )))`, `((* block *))` and `((= comment =))`,
delimiters that LaTeX's braces and percent signs never form.
"""

from __future__ import annotations

from pathlib import Path

import jinja2

LATEX_DELIMITERS = dict(block_start_string="((*", block_end_string="*))",
                        variable_start_string="(((", variable_end_string=")))",
                        comment_start_string="((=", comment_end_string="=))")


def environment(root: Path, *, latex: bool = False) -> jinja2.Environment:
    """The environment for the templates under `root` (`latex=True`: LaTeX-safe delimiters)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(root)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
        autoescape=False,
        **(LATEX_DELIMITERS if latex else {}),
    )
