"""The LaTeX report: scaffold, tables and figures from results, line edits."""
