"""Shared fixtures: the shared Omniglot data, a tiny generated Omniglot layout, offscreen Qt."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from tiny_omniglot import make_tiny_omniglot

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_data_root() -> Path | None:
    """METAGUI_DATA (CI sets it to ../shared/data) or ../shared/data, if it holds Omniglot."""
    root = Path(os.environ.get("METAGUI_DATA", SHARED_DATA))
    return root if (root / "omniglot" / "images_evaluation.zip").exists() else None


@pytest.fixture(autouse=True)
def _one_thread():
    """Every test on one torch thread: fast and steady next to other work on a small machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Decoded-data cache shared by the session but private to the test run."""
    monkeypatch.setenv("METAGUI_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="session")
def omniglot_root() -> Path:
    """The real Omniglot data (skips the test when absent)."""
    root = shared_data_root()
    if root is None:
        pytest.skip("Omniglot data not found: set METAGUI_DATA (see README)")
    return root


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory) -> Path:
    """A tiny generated Omniglot layout (zips), shared by the session; treat as read-only."""
    return make_tiny_omniglot(tmp_path_factory.mktemp("tiny"))
