"""The open-set calibration of a model a *Learn to learn* run saved: ``python -m core.openset``
in a child process (seconds for a Conv-4 ProtoNet), so that the model answers "none of these"
like the shipped ones. Its result is ``<model>.openset.json`` beside the model, which the window
reads whenever it loads that model."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QProcess, Signal

from metagui.app.live import python
from metagui.control.metatrain import child_environment

#: Validation episodes per shot count when the window calibrates a model its run saved (the
#: shipped models: 300; 100 take a few seconds for a Conv-4).
CALIBRATION_EPISODES = 100


def calibrate_command(checkpoint: Path, data_root: Path | None = None) -> list[str]:
    """The arguments of ``python -m core.openset`` calibrating ``checkpoint`` beside it."""
    args = ["-m", "core.openset", "--checkpoint", str(checkpoint), "--no-test",
            "--episodes", str(CALIBRATION_EPISODES), "--threads", "1"]  # fmt: skip
    if data_root is not None:
        args += ["--data-root", str(data_root)]
    return args


class Calibrator(QObject):
    """Calibrates one model at a time; ``finished(path, problem)``: ``problem`` is "" when the
    calibration file was written, else a one-line reason."""

    finished = Signal(object, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.process: QProcess | None = None
        self.checkpoint: Path | None = None  # the model being calibrated

    @property
    def running(self) -> bool:
        return self.process is not None

    def start(self, checkpoint: Path, data_root: Path | None = None) -> None:
        self.stop()
        process = QProcess(self)
        process.setObjectName("calibrationProcess")
        process.setProcessEnvironment(child_environment())
        process.finished.connect(self._finished)
        process.errorOccurred.connect(self._error)
        self.process, self.checkpoint = process, checkpoint
        process.start(python(), calibrate_command(checkpoint, data_root))

    def stop(self) -> None:
        """End a calibration at once (the window closes, or another model is calibrated)."""
        process, self.process = self.process, None
        if process is not None:
            process.finished.disconnect()
            process.kill()
            process.waitForFinished(1000)
            process.deleteLater()

    def _finished(self, code: int, status: QProcess.ExitStatus) -> None:
        process, self.process, checkpoint = self.process, None, self.checkpoint
        if process is None:
            return
        lines = bytes(process.readAllStandardError()).decode(errors="replace").splitlines()
        process.deleteLater()
        if code == 0 and status is QProcess.ExitStatus.NormalExit:
            self.finished.emit(checkpoint, "")
            return
        reason = next((line for line in reversed(lines) if line.strip()), f"exit code {code}")
        self.finished.emit(checkpoint, reason.strip().removeprefix("error: "))

    def _error(self, error: QProcess.ProcessError) -> None:
        if error is QProcess.ProcessError.FailedToStart and self.process is not None:
            reason = self.process.errorString()
            self.process.deleteLater()
            self.process = None
            self.finished.emit(self.checkpoint, reason)
