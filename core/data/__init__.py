"""Datasets behind one protocol, splits, the episode sampler and preprocessing specs.

``from core.data import load_dataset, PreprocessSpec, ...`` works; the submodules are imported on
first use so that ``core.data.paths`` stays cheap to import. (``episodes()`` lives in
``core.data.episodes``: the package attribute of that name is the submodule.)
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "DATASETS": "datasets",
    "load_dataset": "datasets",
    "default_preprocess": "datasets",
    "FewShotDataset": "base",
    "PreprocessSpec": "spec",
    "Episode": "episodes",
    "EpisodeSpec": "episodes",
    "EpisodeStream": "episodes",
    "check_spec": "episodes",
    "sample_episode": "episodes",
    "sample_plan": "episodes",
    "build_episode": "episodes",
    "load_split": "splits",
    "DataNotFoundError": "paths",
    "ImageError": "preprocess",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'core.data' has no attribute {name!r}")
    return getattr(importlib.import_module(f"core.data.{_EXPORTS[name]}"), name)
