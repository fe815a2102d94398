"""What a ``LearnerController`` keeps about its jobs: the context a job was submitted for, and the
cached adaptation (plain data, read on the GUI thread only)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from metagui.app.records import AdaptKey, Query
from metagui.app.session import SupportSet


@dataclass(frozen=True)
class Context:
    """What a job was submitted for (interpreted on the GUI thread when its records arrive)."""

    key: AdaptKey | None = None
    support: SupportSet | None = None
    query: Query | None = None
    path: Path | None = None


@dataclass
class Cache:
    key: AdaptKey
    classifier: Any
    support: SupportSet
    projection: Any = None
    rejector: Any = None  # "none of these", fitted to this support set
