"""The meta-training controller: one ``python -m core.training.live`` child process, its JSON
lines turned into typed signals, and the commands the window sends it.

The run lives in its own process (the window stays responsive; a crash of the run is a message,
not a dead window). Pause and resume are stdin commands: the run waits between two meta-steps,
on any platform, and its training clock does not count the pause. ``stop(timeout_ms)`` asks the
run to finish its step and save (``last.pt`` and the run's model), then terminates it (SIGTERM:
it goes back to its last completed step and saves the same files) and kills it if it still
runs.
"""

from __future__ import annotations

import enum
from collections import deque
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, Signal

from metagui.app.live import (
    LiveDone,
    LiveError,
    LiveEval,
    LivePaused,
    LiveSaved,
    LiveStarted,
    LiveStep,
    LiveThumbnails,
    LiveValidation,
    RunRequest,
    child_pythonpath,
    live_command,
    parse_event,
    python,
    run_folder,
)

#: How much of the run's stderr is kept for a crash message.
STDERR_LINES = 40


def child_environment() -> QProcessEnvironment:
    """The window's environment for a child ``python -m core...`` process, with the ``core``
    next to this ``metagui`` first on ``PYTHONPATH``."""
    env = QProcessEnvironment.systemEnvironment()
    env.insert("PYTHONPATH", child_pythonpath(env.value("PYTHONPATH", "")))
    return env


class RunState(enum.Enum):
    IDLE = "idle"  # no run (never started, or ended)
    STARTING = "starting"  # the process runs, no step yet
    RUNNING = "running"
    PAUSED = "paused"
    STOPPING = "stopping"


class MetaTrainer(QObject):
    """Starts, pauses, resumes and stops one meta-training run; a signal per record."""

    started = Signal(object)  # LiveStarted
    stepped = Signal(object)  # LiveStep
    evaluated = Signal(object)  # LiveEval
    validated = Signal(object)  # LiveValidation
    thumbnails = Signal(object)  # LiveThumbnails
    saved = Signal(object)  # LiveSaved
    done = Signal(object)  # LiveDone: the run ended and saved its model
    failed = Signal(str)  # one line: the run could not start or crashed
    stateChanged = Signal(object)  # RunState

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = RunState.IDLE
        self.process: QProcess | None = None
        self.out: Path | None = None
        self.finished: LiveDone | None = None
        self._buffer = b""
        self._stderr: deque[str] = deque(maxlen=STDERR_LINES)
        self._error: str | None = None

    # ------------------------------------------------------------------ commands
    def start(self, request: RunRequest, out: Path | None = None) -> Path:
        """Start a run of ``request`` in ``out`` (default: a new folder under the runs folder)."""
        if self.process is not None:
            raise RuntimeError("a run is going on: stop it first")
        self.out = out or run_folder(request)
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.finished, self._buffer, self._error = None, b"", None
        self._stderr.clear()
        process = QProcess(self)
        process.setObjectName("metaTrainingProcess")
        env = child_environment()
        env.insert("PYTHONUNBUFFERED", "1")
        process.setProcessEnvironment(env)
        process.readyReadStandardOutput.connect(self._read_stdout)
        process.readyReadStandardError.connect(self._read_stderr)
        process.finished.connect(self._finished)
        process.errorOccurred.connect(self._error_occurred)
        self.process = process
        self._set_state(RunState.STARTING)
        process.start(python(), live_command(request, self.out))
        return self.out

    def pause(self) -> None:
        self._send("pause")

    def resume(self) -> None:
        self._send("resume")

    def try_now(self) -> None:
        """Ask for the current weights as a checkpoint (``saved`` with why "now" follows)."""
        self._send("save")

    def stop(self, timeout_ms: int = 0) -> bool:
        """Ask the run to save and end. With ``timeout_ms``, wait that long: 70 % for the run
        (it saves its last completed step within ~0.3 s however long a step takes), then
        SIGTERM (the same), then a kill. True when no process is left."""
        if self.process is None:
            return True
        if self.state is not RunState.STOPPING:
            self._send("stop")
            self._set_state(RunState.STOPPING)
        if not timeout_ms:
            return False
        process = self.process
        if process.waitForFinished(int(timeout_ms * 0.7)):
            return True
        process.terminate()
        if process.waitForFinished(int(timeout_ms * 0.2)):
            return True
        process.kill()
        process.waitForFinished(1000)
        return self.process is None

    def kill(self) -> None:
        """End the process at once (what a crash looks like; tests)."""
        if self.process is not None:
            self.process.kill()

    @property
    def running(self) -> bool:
        return self.process is not None

    # ------------------------------------------------------------------ the process
    def _send(self, word: str) -> None:
        if self.process is not None and self.state is not RunState.STOPPING:
            self.process.write(f"{word}\n".encode())

    def _set_state(self, state: RunState) -> None:
        if state is not self.state:
            self.state = state
            self.stateChanged.emit(state)

    def _read_stdout(self) -> None:
        if self.process is None:
            return
        self._buffer += bytes(self.process.readAllStandardOutput().data())
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            record = parse_event(line)
            if record is not None:
                self._dispatch(record)

    def _dispatch(self, record) -> None:
        if isinstance(record, LiveStep):
            if self.state is RunState.STARTING:
                self._set_state(RunState.RUNNING)
            self.stepped.emit(record)
        elif isinstance(record, LiveEval):
            self.evaluated.emit(record)
        elif isinstance(record, LiveThumbnails):
            self.thumbnails.emit(record)
        elif isinstance(record, LiveValidation):
            self.validated.emit(record)
        elif isinstance(record, LiveSaved):
            self.saved.emit(record)
        elif isinstance(record, LivePaused):
            if self.state is not RunState.STOPPING:
                self._set_state(RunState.PAUSED if record.paused else RunState.RUNNING)
        elif isinstance(record, LiveStarted):
            self.started.emit(record)
        elif isinstance(record, LiveDone):
            self.finished = record
        elif isinstance(record, LiveError):
            self._error = record.text

    def _read_stderr(self) -> None:
        if self.process is None:
            return
        text = bytes(self.process.readAllStandardError().data()).decode(errors="replace")
        for line in text.replace("\r", "\n").splitlines():
            if line.strip():
                self._stderr.append(line.strip())

    def _error_occurred(self, error: QProcess.ProcessError) -> None:
        if error is QProcess.ProcessError.FailedToStart:
            self._end(f"Meta-training could not start: {self.process.errorString()}")

    def _finished(self, code: int, status: QProcess.ExitStatus) -> None:
        self._read_stdout()
        self._read_stderr()
        if self.finished is not None and code in (0, 130):
            self._end(None)
            return
        if self._error:
            reason = self._error
        elif status is QProcess.ExitStatus.CrashExit:
            reason = "the training process was killed or crashed"
        else:
            reason = self._stderr[-1] if self._stderr else f"exit code {code}"
        self._end(f"Meta-training ended: {reason}")

    def _end(self, message: str | None) -> None:
        process, self.process = self.process, None
        if process is not None:
            process.deleteLater()
        self._set_state(RunState.IDLE)
        if message is None:
            self.done.emit(self.finished)
        else:
            self.failed.emit(message)
