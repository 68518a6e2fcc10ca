"""The paper-solver: draft a LaTeX report section by section, then improve it by checked edits."""
