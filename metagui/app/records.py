"""The records a ``LearnerController`` emits and keys its cache by (no Qt: plain data)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.checkpoint import Checkpoint
from metagui.app.session import Drawing, Example


class ProblemCode(enum.Enum):
    """Why a learner cannot show a result; the window decides from this, never from text."""

    SUPPORT = "support"  # the classes cannot be used yet (a hint)
    DIVERGED = "diverged"  # the adaptation loss exploded (learning rate too large)
    ADAPT_FAILED = "adapt"
    LOAD_FAILED = "load"
    MAP_FAILED = "map"


@dataclass(frozen=True)
class Problem:
    code: ProblemCode
    text: str


class Kind(str, enum.Enum):
    LOAD = "load"
    ADAPT = "adapt"
    CLASSIFY = "classify"
    MAP = "map"


@dataclass(frozen=True)
class AdaptKey:
    """What an adapted classifier was made from; equal keys: the cache holds."""

    support_version: int
    checkpoint: int  # the controller's load generation
    steps: int | None  # None: the checkpoint's own
    lr: float | None
    device: str


@dataclass(frozen=True)
class Query:
    """What to classify (a drawing, or example images) and its version (bumped on change)."""

    content: Drawing | tuple[Example, ...]
    version: int

    @property
    def empty(self) -> bool:
        if isinstance(self.content, Drawing):
            return self.content.is_empty()
        return not self.content


@dataclass(frozen=True)
class Loaded:
    path: Path
    checkpoint: Checkpoint


@dataclass(frozen=True)
class Stepped:
    """One inner-loop step: ``step`` of ``total_steps`` with its support ``loss``."""

    step: int
    total_steps: int
    loss: float


@dataclass(frozen=True)
class Predicted:
    """``probs`` ``(n_query, n_way)`` of query ``query_version`` (None: no query), the class
    names, seconds taken, whether it took an adaptation, and its steps; ``rejected``
    ``(n_query,)`` bool: "none of these" (None: open-set answers off or not decided)."""

    probs: np.ndarray | None
    names: tuple[str, ...]
    query_version: int
    elapsed: float
    adapted: bool
    steps: int
    rejected: np.ndarray | None = None


@dataclass(frozen=True)
class Adapted:
    elapsed: float
    total_steps: int
    loss: float
