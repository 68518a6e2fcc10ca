"""Shared test fixtures: fixture data location, run directories, configs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _fixtures() -> Path:
    env = os.environ.get("LABCOAT_FIXTURES")
    if env:
        return Path(env)
    # The shared fixtures sit beside the repository (../shared/fixtures).
    for base in (REPO, *REPO.parents):
        candidate = base.parent / "shared" / "fixtures"
        if candidate.is_dir():
            return candidate
    raise RuntimeError("cannot find ../shared/fixtures; set LABCOAT_FIXTURES")


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return _fixtures()


@pytest.fixture
def runs_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "runs"
    monkeypatch.setenv("LABCOAT_RUNS", str(path))
    return path
