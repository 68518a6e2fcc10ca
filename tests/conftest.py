"""Shared test fixtures: fixture data location, run directories, configs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _fixtures() -> Path:
    """Recorded responses and papers the tests replay; they live in the repository."""
    env = os.environ.get("LABCOAT_FIXTURES")
    return Path(env) if env else REPO / "tests" / "fixtures"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return _fixtures()


@pytest.fixture
def runs_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "runs"
    monkeypatch.setenv("LABCOAT_RUNS", str(path))
    return path
