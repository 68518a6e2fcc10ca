"""mle-solver: improve experiment programs by edits, sandboxed runs, scores and reflection."""
