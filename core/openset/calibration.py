"""The calibration file: which score a checkpoint rejects with, and its thresholds.

``<checkpoint stem>.openset.json`` next to the checkpoint (``calibration_path``), written by
``python -m core.openset`` and read by the window. Loading checks everything and raises
``CalibrationError`` with a one-line reason naming the file (missing, not JSON, foreign, wrong
keys, non-finite or out-of-range values, made for another checkpoint).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from core.files import write_text
from core.openset.score import SCORES

FORMAT = "metagui-openset"
FORMAT_VERSION = 1
#: A calibration file is a few kB; anything much larger is not one.
MAX_BYTES = 1 << 20
#: Shot counts a threshold may be given for.
MAX_SHOTS = 1000


class CalibrationError(ValueError):
    """A file is not a usable open-set calibration; the message names the file and the reason."""


def calibration_path(checkpoint: str | os.PathLike) -> Path:
    """``checkpoints/anil-omniglot.pt`` -> ``checkpoints/anil-omniglot.openset.json``."""
    path = Path(checkpoint)
    return path.with_name(f"{path.stem}.openset.json")


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Calibration:
    """``score``: the kind (``core.openset.score.SCORES``); ``thresholds``: shots -> the score
    above which a query is rejected, set so that ``true_accept_rate`` of the validation
    queries from support classes are accepted. ``info``: everything else the file records
    (settings, validation AUROC of every candidate, test report), kept as read."""

    score: str
    thresholds: dict[int, float]
    true_accept_rate: float
    algorithm: str
    checkpoint_sha256: str
    info: dict[str, Any] = field(default_factory=dict)

    def threshold_for(self, shots: float) -> float:
        """The threshold calibrated for the shot count nearest (in ratio) to ``shots``, the
        support set's examples per class."""
        shots = max(float(shots), 1.0)
        best = min(self.thresholds, key=lambda k: (abs(math.log(k / shots)), k))
        return self.thresholds[best]

    def reject(self, scores: torch.Tensor, shots: float) -> torch.Tensor:
        """Bool ``(n,)``: which of the novelty ``scores`` ``(n,)`` mean "none of these"."""
        return scores > self.threshold_for(shots)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "score": self.score,
            "true_accept_rate": self.true_accept_rate,
            "thresholds": {str(k): v for k, v in sorted(self.thresholds.items())},
            "algorithm": self.algorithm,
            "checkpoint_sha256": self.checkpoint_sha256,
            **self.info,
        }


def save_calibration(path: str | os.PathLike, calibration: Calibration) -> None:
    path = Path(path)
    write_text(path, json.dumps(calibration.to_json(), indent=1) + "\n")


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def parse_calibration(doc: object, where: str = "calibration") -> Calibration:
    """Validate a decoded calibration document; CalibrationError with a one-line reason."""

    def bad(reason: str) -> CalibrationError:
        return CalibrationError(f"{where}: {reason}")

    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise bad(f"not a metagui open-set calibration (no '{FORMAT}' marker)")
    version = doc.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version > FORMAT_VERSION:
        raise bad(f"format version {version!r} is not one this metagui reads ({FORMAT_VERSION})")
    score = doc.get("score")
    if score not in SCORES:
        raise bad(f"unknown score {score!r}; expected one of {', '.join(SCORES)}")
    rate = doc.get("true_accept_rate")
    if not _finite(rate) or not 0 < rate < 1:
        raise bad(f"true_accept_rate must be a number between 0 and 1, not {rate!r}")
    raw = doc.get("thresholds")
    if not isinstance(raw, dict) or not raw:
        raise bad("thresholds must be a non-empty object {shots: threshold}")
    thresholds: dict[int, float] = {}
    for key, value in raw.items():
        if not (isinstance(key, str) and key.isdigit() and 1 <= int(key) <= MAX_SHOTS):
            raise bad(f"threshold key {key!r} is not a shot count (1..{MAX_SHOTS})")
        if not _finite(value):
            raise bad(f"threshold for {key} shots must be a finite number, not {value!r}")
        thresholds[int(key)] = float(value)
    algorithm, digest = doc.get("algorithm"), doc.get("checkpoint_sha256")
    if not isinstance(algorithm, str) or not algorithm:
        raise bad("lacks the algorithm it was calibrated for")
    if not (isinstance(digest, str) and len(digest) == 64):
        raise bad("lacks the checkpoint_sha256 of the checkpoint it was calibrated for")
    fixed = {"format", "format_version", "score", "true_accept_rate", "thresholds"}
    info = {k: v for k, v in doc.items() if k not in fixed | {"algorithm", "checkpoint_sha256"}}
    return Calibration(score, thresholds, float(rate), algorithm, digest, info)


def load_calibration(
    path: str | os.PathLike, checkpoint: str | os.PathLike | None = None
) -> Calibration:
    """Read and check ``path``; with ``checkpoint``, also that it was made for that file."""
    path = Path(path)
    if not path.is_file():
        raise CalibrationError(f"{path}: no such calibration file")
    if path.stat().st_size > MAX_BYTES:
        raise CalibrationError(f"{path}: too large for a calibration file (over {MAX_BYTES} bytes)")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CalibrationError(f"{path}: not valid JSON ({reason})") from None
    calibration = parse_calibration(doc, str(path))
    if checkpoint is not None and file_sha256(checkpoint) != calibration.checkpoint_sha256:
        raise CalibrationError(
            f"{path}: made for a different checkpoint than {Path(checkpoint).name}; "
            f"recalibrate with python -m core.openset --checkpoint {checkpoint}"
        )
    return calibration
