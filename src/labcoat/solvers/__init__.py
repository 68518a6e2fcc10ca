"""The solvers: mle-solver (experiments) and paper-solver (the report)."""
