"""Open-set answers: "none of these" for a query far from every class of the support set.

``score``: novelty scores (max softmax probability, energy, distance to the nearest class centre
or support image); ``measure``: open-set episodes, AUROC and what a threshold costs;
``calibration``: the per-checkpoint file of thresholds; ``python -m core.openset`` calibrates a
checkpoint on its validation classes and reports on its test classes.
"""

from __future__ import annotations

from core.openset.calibration import (
    Calibration,
    CalibrationError,
    calibration_path,
    load_calibration,
)
from core.openset.score import SCORES, Scorer, auroc, candidate_scores

__all__ = [
    "SCORES",
    "Calibration",
    "CalibrationError",
    "Scorer",
    "auroc",
    "calibration_path",
    "candidate_scores",
    "load_calibration",
]
