"""The layout keeps its rules: no import cycles (function-level imports included), nothing imports cli or web."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "import_cycles.py"


def _script():
    spec = importlib.util.spec_from_file_location("import_cycles", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_labcoat_has_no_import_cycle_and_nothing_imports_cli_or_web() -> None:
    script = _script()
    edges = script.imports(script.modules())
    assert script.cycles(edges) == []
    top = ("labcoat.cli", "labcoat.web")
    inward = sorted((m, t) for m, targets in edges.items() for t in targets
                    if t.startswith(top) and not m.startswith(top) and m != "labcoat.__main__")
    assert inward == []


def test_the_check_finds_a_cycle_hidden_in_a_function(tmp_path: Path) -> None:
    script = _script()
    pkg = tmp_path / "labcoat"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from labcoat import b\n")
    (pkg / "b.py").write_text("def later():\n    from labcoat.a import thing\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from labcoat import a\n")
    assert script.cycles(script.imports(script.modules(tmp_path))) == [["labcoat.a", "labcoat.b"]]
