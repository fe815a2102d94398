"""The records that travel from the model thread to the screen: one type per fact, plain data.

No Qt and no torch here (numpy arrays only), so widgets can import these without pulling in the
model. A controller builds them from core's records (``core.algorithms.base.AdaptStep``) once,
on the worker thread, and the same record reaches the widget that shows it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from metagui.app.session import Drawing, Example

if TYPE_CHECKING:
    from core.checkpoint import Checkpoint


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
    """A controller's kinds of job; a newer job of a kind supersedes the older one."""

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
    """A checkpoint loaded from ``path`` (with its open-set calibration state ``openset``)."""

    path: Path
    checkpoint: Checkpoint
    openset: Any  # metagui.app.openset.OpenSetState


@dataclass(frozen=True)
class Step:
    """One inner-loop step of an adaptation, as core's ``AdaptStep`` reports it, made
    showable: ``probs`` ``(n_query, n_way)`` numpy (None without a query or before the last
    step), ``elapsed`` seconds since the adaptation began, ``rejected`` ``(n_query,)`` bool
    ("none of these", decided on the last step when open-set answers are on).

    ``classifier`` and ``rejector`` stay with the controller (its cache); widgets read the
    numbers only.
    """

    step: int
    total_steps: int
    loss: float
    support_accuracy: float
    probs: np.ndarray | None
    elapsed: float
    rejected: np.ndarray | None = None
    classifier: Any = None
    rejector: Any = None

    @property
    def last(self) -> bool:
        return self.step == self.total_steps


@dataclass(frozen=True)
class Prediction:
    """What the bars show: ``probs`` ``(n_query, n_way)`` of query ``query_version`` (None: no
    query) for the classes ``names``; ``elapsed`` seconds; ``steps``: the adaptation steps it
    took (0: classified by an already adapted classifier); ``rejected`` ``(n_query,)`` bool:
    "none of these" (None: open-set answers off or not decided). ``rejector`` (controller only):
    the open-set rejector fitted for it, cached for the next queries."""

    probs: np.ndarray | None
    names: tuple[str, ...]
    query_version: int
    elapsed: float = 0.0
    adapted: bool = False
    steps: int = 0
    rejected: np.ndarray | None = None
    rejector: Any = None

    @classmethod
    def of_step(cls, step: Step, names: tuple[str, ...], query_version: int, steps: int):
        """What the bars show at adaptation ``step`` (``steps``: the steps it took so far)."""
        return cls(step.probs, names, query_version, step.elapsed, True, steps, step.rejected)

    def winner(self) -> int | None:
        """The class of the first query; None without one, or when it is "none of these"."""
        if self.probs is None or (self.rejected is not None and bool(self.rejected[0])):
            return None
        return int(np.argmax(self.probs[0]))


@dataclass(frozen=True)
class MapUpdate:
    """2-D embedding map of a support set (and query) as the GUI draws it; numpy on the CPU.
    ``projection``: the PCA fitted to the support set (controller only: reused for the next
    queries)."""

    support: np.ndarray  # (n_support, 2)
    labels: np.ndarray  # (n_support,)
    centres: np.ndarray  # (n_way, 2)
    query: np.ndarray | None  # (n_query, 2)
    explained: np.ndarray  # (2,) share of the support variance along each axis
    names: tuple[str, ...]
    projection: Any = None


@dataclass(frozen=True)
class MemoryView:
    """MANN's memory: row ``t`` of ``read``/``write`` ``(T, slots)`` is the support step ``t``
    (summed over the heads: a read row sums to the number of heads), ``labels`` ``(T,)`` the
    class fed at that step, ``usage`` ``(slots,)`` after the last step; ``query_read``
    ``(n_query, slots)`` where each query's step reads (None without a query)."""

    read: np.ndarray
    write: np.ndarray
    labels: np.ndarray
    usage: np.ndarray
    query_read: np.ndarray | None
    names: tuple[str, ...]
    heads: int


@dataclass(frozen=True)
class SimilarityView:
    """Siamese: ``similarity`` ``(n_query, n_support)`` p(same class) of each query to each
    support image (None without a query), ``labels`` ``(n_support,)`` their classes."""

    similarity: np.ndarray | None
    labels: np.ndarray
    names: tuple[str, ...]


LearnerView = MemoryView | SimilarityView

#: What the rotation suffix of a sampled class's name means, for tooltips and legends.
ROTATION_NOTE = "↻90°, ↻180°, ↻270°: the character rotated by that angle, a class of its own"
