"""The open-set answer "none of these": a checkpoint's calibration file, and the one place that
decides which queries are rejected (``answer``, run on the model thread for both the last
adaptation step and later classifications). The window only shows the decision."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import torch

    from core.algorithms.base import Classifier, Learner
    from core.openset import Calibration
    from core.openset.rejector import Rejector

#: QSettings key of the switch.
SETTING = "openset"
TIP_ON = (
    "Answer “none of these” when the query is far from every class (threshold calibrated "
    "on the checkpoint's validation classes: {rate:.0%} of queries from a taught class "
    "are accepted; score: {score})"
)


@dataclass(frozen=True)
class OpenSetState:
    """A checkpoint's calibration, or why it has none (``reason``, for the switch's tooltip)."""

    calibration: Calibration | None
    reason: str = ""


def read_openset(checkpoint: Path, learner: Learner) -> OpenSetState:
    """The calibration file next to ``checkpoint`` (``calibration_path``), checked against it."""
    from core.openset import CalibrationError, calibration_path, load_calibration
    from core.openset.score import check_kind

    path = calibration_path(checkpoint)
    command = f"python -m core.openset --checkpoint {checkpoint}"
    if not path.is_file():
        return OpenSetState(None, f"{Path(checkpoint).name} has no calibration file; make one "
                                  f"with “{command}”")  # fmt: skip
    try:
        calibration = load_calibration(path, checkpoint)
        if calibration.algorithm != learner.name:
            raise CalibrationError(f"{path.name}: calibrated for {calibration.algorithm}")
        check_kind(calibration.score, learner)
    except (CalibrationError, ValueError) as exc:
        return OpenSetState(None, f"Unusable calibration: {exc}")
    return OpenSetState(calibration)


@dataclass(frozen=True)
class OpenSetJob:
    """Open-set answers asked of a job: the checkpoint's ``calibration``, its ``learner``, the
    support ``images`` ``(n, C, S, S)`` with ``labels`` ``(n,)``; ``rejector``: already fitted
    to them (cached by the controller), else None."""

    calibration: Calibration
    learner: Learner
    images: torch.Tensor
    labels: torch.Tensor
    rejector: Rejector | None = None


def answer(
    job: OpenSetJob | None, classifier: Classifier, queries: torch.Tensor
) -> tuple[torch.Tensor, np.ndarray | None, Rejector | None]:
    """``(probs (n_query, n_way), rejected (n_query,) bool or None, rejector)`` of ``queries``
    (on the classifier's device) under ``classifier``: the one place the window's "none of
    these" is decided. Without a ``job`` nothing is rejected (``None, None``)."""
    import torch

    from core.openset.rejector import Rejector

    with torch.no_grad():
        if job is None:
            return torch.softmax(classifier.logits(queries), dim=1), None, None
        rejector = job.rejector or Rejector.fit(
            job.calibration, job.learner, job.images.to(queries.device),
            job.labels.to(queries.device), classifier,
        )  # fmt: skip
        logits, flags = rejector.decide(queries, classifier)
        return torch.softmax(logits, dim=1), flags.cpu().numpy(), rejector
