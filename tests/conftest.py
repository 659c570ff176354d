"""Shared fixtures: paths to the public datasets and small settings for fast runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from config.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
# Public sample logs live beside the project (../shared/datasets); CENTINELA_TEST_DATASETS points
# elsewhere, for a checkout in another folder.
DATASETS = Path(os.environ.get("CENTINELA_TEST_DATASETS", ROOT.parent / "shared" / "datasets"))


def dataset(relative: str) -> Path:
    """Return a path under the shared datasets folder, skipping the test when it is absent."""
    path = DATASETS / relative
    if not path.exists():
        pytest.skip(f"dataset {relative} not available at {path}")
    return path


@pytest.fixture
def small_settings(tmp_path: Path) -> Settings:
    """Settings with a small model and a private state directory, warmed from the shipped history."""
    return Settings(
        state_dir=tmp_path / "state",
        hst_trees=10,
        hst_window=250,
        reference_size=1000,
        history_max_events=6000,
    )
