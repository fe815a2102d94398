"""Save and load learners with their metadata; loading uses ``torch.load(weights_only=True)``.

A checkpoint is a plain dict of tensors and JSON-like values:
``format``, ``format_version``, ``algorithm``, ``config`` (the algorithm's dataclass fields),
``state_dict``, ``metadata`` (backbone, input size, preprocessing, training command, data split,
metrics, ..., and ``metagui_version``: the version that wrote the file) and, in resumable
training checkpoints only, ``training_state``.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from core import __version__
from core.algorithms import ALGORITHMS, Learner, build_learner
from core.data.spec import PreprocessSpec
from core.files import write_with

FORMAT = "metagui-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A file is not a usable metagui checkpoint; the message names the file and the reason."""


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint: the learner, its metadata, its training state (resumable files
    only) and ``preprocess``, how its inputs are made from images."""

    learner: Learner
    metadata: dict[str, Any]
    training_state: dict[str, Any] | None
    preprocess: PreprocessSpec


def preprocess_of(metadata: dict[str, Any], learner: Learner) -> PreprocessSpec:
    """The preprocessing a checkpoint records; for files that record none, the one its learner's
    input implies (1 channel: ink-normalised drawings; 3: RGB photos). ValueError when the
    record is unusable or does not fit the learner's input."""
    config = learner.config
    channels, size = config.in_channels, config.input_size
    if "preprocess" in metadata or "preprocess_version" in metadata:
        spec = PreprocessSpec.from_metadata(metadata)
    else:
        spec = PreprocessSpec("ink" if channels == 1 else "rgb", size)
    if (spec.channels, spec.size) != (channels, size):
        raise ValueError(
            f"it makes {spec.channels}-channel {spec.size} px inputs, the model takes "
            f"{channels}-channel {size} px"
        )
    return spec


def save_checkpoint(
    path: str | os.PathLike,
    learner: Learner,
    metadata: dict[str, Any],
    training_state: dict[str, Any] | None = None,
) -> None:
    """Write atomically (``core.files``): a failure (OSError: full disk, ...) leaves ``path`` as it
    was and no partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "algorithm": learner.name,
        "config": dataclasses.asdict(learner.config),
        "state_dict": learner.state_dict(),
        "metadata": {**metadata, "metagui_version": __version__},
    }
    if training_state is not None:
        payload["training_state"] = training_state
    write_with(path, lambda buffer: torch.save(payload, buffer))


def read_checkpoint_file(path: str | os.PathLike) -> dict[str, Any]:
    """Load and validate the raw checkpoint dict; raise CheckpointError with a one-line reason."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    with path.open("rb") as fh:
        magic = fh.read(4)
    if not (magic.startswith(b"PK") or magic.startswith(b"\x80")):
        raise CheckpointError(f"{path}: not a readable checkpoint (not a torch-saved file)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(
            f"{path}: refused: holds objects other than tensors and plain values "
            "(not a metagui checkpoint, or unsafe)"
        ) from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(
            f"{path}: not a readable checkpoint (truncated or corrupt?): {reason}"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a metagui checkpoint (no '{FORMAT}' marker)")
    version = payload.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise CheckpointError(
            f"{path}: damaged checkpoint: format version {version!r} is not a whole number"
        )
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {version!r} is newer than this metagui "
            f"understands ({FORMAT_VERSION}); upgrade metagui"
        )
    if payload.get("algorithm") not in ALGORITHMS:
        raise CheckpointError(f"{path}: unknown algorithm {payload.get('algorithm')!r}")
    for key in ("config", "state_dict", "metadata"):
        if not isinstance(payload.get(key), dict):
            raise CheckpointError(f"{path}: checkpoint lacks its {key}")
    characters = payload["metadata"].get("train_characters", [])
    if not isinstance(characters, list) or not all(isinstance(c, str) for c in characters):
        raise CheckpointError(
            f"{path}: damaged checkpoint: train_characters is not a list of names"
        )
    return payload


def _weights_problem(learner: Learner, state_dict: dict[str, Any]) -> str | None:
    """Why ``state_dict`` cannot be ``learner``'s weights, or None: NaN or infinite values, or
    whole numbers where the model holds real ones (they would load as a constant network)."""
    own = learner.state_dict()
    for name, value in state_dict.items():
        mine = own.get(name)
        if not isinstance(value, torch.Tensor) or mine is None:
            continue  # the loader names unexpected or missing keys
        if mine.is_floating_point() and not value.is_floating_point():
            return f"{name} holds {value.dtype} values where the model holds {mine.dtype}"
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            return f"{name} holds NaN or infinite values"
    return None


def _one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception's message on one line (state_dict errors put their detail on later lines)."""
    text = " ".join(part.strip() for part in str(exc).strip().splitlines() if part.strip())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load_checkpoint(path: str | os.PathLike, device: torch.device | str = "cpu") -> Checkpoint:
    """Rebuild the learner of a checkpoint on ``device``; raise CheckpointError when unusable."""
    payload = read_checkpoint_file(path)
    try:
        learner = build_learner(payload["algorithm"], payload["config"])
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"{path}: unusable settings: {_one_line(exc)}") from None
    problem = _weights_problem(learner, payload["state_dict"])
    if problem:
        raise CheckpointError(f"{path}: unusable weights: {problem}")
    try:
        learner.load_state_dict(payload["state_dict"])
    except (ValueError, RuntimeError, TypeError) as exc:
        raise CheckpointError(f"{path}: weights do not fit the model: {_one_line(exc)}") from None
    try:
        spec = preprocess_of(payload["metadata"], learner)
    except ValueError as exc:
        first = str(exc).strip().splitlines()[0]
        raise CheckpointError(f"{path}: unusable preprocessing record: {first}") from None
    learner.to(device).eval()
    return Checkpoint(learner, payload["metadata"], payload.get("training_state"), spec)
