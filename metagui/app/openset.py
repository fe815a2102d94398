"""The open-set answer "none of these" in the window: the checkpoint's calibration file, and
the switch that turns it on (mixed into ``MainWindow`` as ``OpenSetView``).

The decision itself is computed on the model thread with the probabilities (``jobs.open_set``);
the window only shows it (``ResultsView._show_prediction``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.algorithms.base import Learner
from core.openset import Calibration, CalibrationError, calibration_path, load_calibration
from core.openset.score import check_kind

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


class OpenSetView:
    """The “None of these” switch (``openSetCheck``): persisted in QSettings, disabled with
    the reason as tooltip when the checkpoint has no usable calibration."""

    def _init_openset(self) -> None:
        box = self.openset_check
        box.setChecked(bool(self.qsettings.value(SETTING, False, type=bool)))
        self.learner.reject_unknown = self.second.reject_unknown = box.isChecked()
        box.toggled.connect(self._openset_toggled)
        self.learner.loaded.connect(lambda _loaded: self._openset_available())
        self._openset_available()

    def _openset_available(self) -> None:
        state = self.learner.openset
        box = self.openset_check
        box.setEnabled(state.calibration is not None)
        if state.calibration is None:
            box.setToolTip(state.reason or "Load a checkpoint first")
        else:
            c = state.calibration
            box.setToolTip(TIP_ON.format(rate=c.true_accept_rate, score=c.score))

    def _openset_toggled(self, on: bool) -> None:
        self.qsettings.setValue(SETTING, on)
        self.learner.set_reject_unknown(on)
        self.second.set_reject_unknown(on)  # compare mode's learner, with its own calibration
        self.request_prediction()
