"""The workflow engine: the phase sequence, co-pilot gates, the run context.

Generic: it knows no phase. `labcoat.phases` assembles the default workflow
from it (phases import the engine, never the other way round).
"""

from labcoat.workflow.engine import Phase, Revisit, Workflow

__all__ = ["Phase", "Revisit", "Workflow"]
