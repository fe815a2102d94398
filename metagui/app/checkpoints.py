"""Where the shipped checkpoints are (no Qt, no torch): ``core.shipped``'s folder, the window's
default first. ``core.shipped`` is imported when asked (the widgets import this module and stay
free of ``core``'s modules)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

#: The file picked by default when it is there: the best drawing model of
#: ``benchmarks/drawn_accuracy.py`` (docs/drawn-accuracy.md), a metric learner.
DEFAULT_CHECKPOINT = "protonet-drawings.pt"
#: The gradient learner compare mode shows beside a learner that takes no gradient steps, so
#: that an inner-loop curve is one click away.
GRADIENT_PARTNER = "anil-omniglot.pt"


def checkpoint_dir() -> Path:
    """``METAGUI_CHECKPOINTS``, else the shipped checkpoints installed with the packages."""
    from core.shipped import checkpoint_dir

    return checkpoint_dir()


def shipped_checkpoints(folder: Path | None = None) -> list[Path]:
    """Every ``.pt`` file in the checkpoint folder, the default one first."""
    from core.shipped import shipped_checkpoints

    found = shipped_checkpoints(folder)
    found.sort(key=lambda p: p.name != DEFAULT_CHECKPOINT)
    return found


@dataclass(frozen=True)
class TrainingData:
    """What the checkpoint at ``path`` was meta-trained on: ``short`` for the Checkpoint box's
    list, ``long`` (with class counts) for its tooltip."""

    path: Path
    short: str
    long: str


def describe_checkpoints(paths: list[Path]) -> Iterator[TrainingData]:
    """The training data of each readable checkpoint of ``paths`` (on a worker thread: reads
    the files with torch; an unreadable one is skipped, choosing it says why)."""
    from core.checkpoint import CheckpointError, read_checkpoint_file
    from core.data.datasets import training_data

    for path in paths:
        try:
            metadata = read_checkpoint_file(path)["metadata"]
        except CheckpointError:
            continue
        yield TrainingData(Path(path), *training_data(metadata))
