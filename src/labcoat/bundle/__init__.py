"""Reproducibility bundles: `labcoat export` writes one, `labcoat reproduce` re-runs it.

A bundle is a folder (or the same folder zipped) holding the paper, every
program that produced a number the paper states — code, inputs by sha256,
environment variables by name, sandbox limits, recorded metrics — the
environment it ran in, its data (copied when small, referenced by source when
large) and the model calls its programs made. `MANIFEST.json` lists the sha256
of every other file; `bundle.json` describes the programs and the claims;
`ro-crate-metadata.json` describes it all as an RO-Crate. The layout is
documented in docs/internals.md.
"""

FORMAT = "labcoat-bundle/1"
