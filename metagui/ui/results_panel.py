"""The results panel: the main learner's probability bars, and compare mode (a second learner on
the same task, side by side). It holds the prediction on screen and tells the query panel's
prediction line and the map which class won (``shown``)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QTabWidget

from metagui.app.checkpoints import GRADIENT_PARTNER, shipped_checkpoints
from metagui.app.records import Prediction, Problem, ProblemCode, Step
from metagui.control.teaching import Teaching
from metagui.control.throttle import Throttle
from metagui.ui.widgets.bars import ProbabilityPlot
from metagui.ui.widgets.compare_panel import ComparePanel
from metagui.ui.widgets.controls import named

#: Bars and prediction line redrawn at most every 50 ms while an adaptation streams steps.
PLOT_INTERVAL_MS = 50


class ResultsPanel(QTabWidget):
    #: the bars now show query ``shown_query_version`` (its prediction, or None: nothing shown)
    shown = Signal(object)
    #: B's inner-loop losses (steps, losses, name) for the loss plot, while the tab is open
    compareCurve = Signal(object, object, str)

    def __init__(self, teaching: Teaching, parent=None) -> None:
        super().__init__(parent)
        named(self, "resultTabs", "Probabilities or comparison")
        self.teaching = teaching
        self.learner, self.second = teaching.learner, teaching.second
        self.bars = ProbabilityPlot()
        self.bars.setMinimumHeight(200)
        self.compare = ComparePanel()
        self.addTab(self.bars, "Probabilities")
        self.addTab(self.compare, "Compare two learners")
        self.latest: Prediction | None = None  # the main learner's newest prediction
        self.shown_query_version = -1
        self._curve: tuple[list[int], list[float]] = ([], [])
        self._throttle = Throttle(PLOT_INTERVAL_MS, self.refresh, self)
        self._partnered = False  # compare mode has offered its gradient learner
        teaching.compare_wanted = self.compare_open
        self.learner.predicted.connect(self._predicted)
        self.learner.adapted.connect(lambda _step: self._throttle.now())
        self.learner.loaded.connect(lambda _l: self._title_a())
        self.compare.checkpointChosen.connect(self.choose)
        self.currentChanged.connect(lambda _i: self._opened())
        self.second.loaded.connect(self._loaded_b)
        self.second.predicted.connect(self._predicted_b)
        self.second.problem.connect(self._problem_b)
        self.second.stepped.connect(self._stepped_b)
        teaching.queryChanged.connect(self.refresh)

    # ---------------------------------------------------------------- the main learner
    def current(self) -> Prediction | None:
        """The newest prediction if it is of the current query and classes, else None."""
        shown, t = self.latest, self.teaching
        names = t.session.names()
        if shown is None or shown.probs is None or shown.probs.shape[1] != len(names):
            return None
        if shown.query_version != t.query_version or not t.has_query():
            return None
        return shown

    def winner(self) -> int | None:
        shown = self.current()
        return None if shown is None else shown.winner()

    def _predicted(self, result: Prediction) -> None:
        self.latest = result
        if self.compare_open():
            self._show(self.compare.a, result)
        if result.adapted:  # per step: throttled; the adaptation's end shows it at once
            self._throttle.request()
        else:
            self._throttle.now()

    def refresh(self) -> None:
        names = self.teaching.session.names()
        shown = self.current()
        self.bars.show_probs(None if shown is None else shown.probs[0], names)
        if shown is not None:
            self.shown_query_version = shown.query_version
        self.shown.emit(shown)

    def support_problem(self, problem: Problem) -> None:
        if problem.code is not ProblemCode.SUPPORT:
            return
        self.latest = None
        self.refresh()
        columns = (self.compare.a, self.compare.b) if self.second.checkpoint else (self.compare.a,)
        for column in columns:
            column.show_text(problem.text)
        self.compare.update_verdict()

    # ---------------------------------------------------------------- compare mode
    def compare_open(self) -> bool:
        return self.currentWidget() is self.compare

    def _wanted(self) -> bool:
        return self.second.checkpoint is not None and self.compare_open()

    def _gradient_partner(self) -> Path | None:
        """The first time compare mode opens on a learner without gradient steps (a metric
        learner such as the default), the shipped gradient learner to show beside it, so that
        an inner-loop curve is one click away."""
        if self._partnered or self.compare.path() is not None or self.second.load_requested():
            return None
        self._partnered = True
        ckpt = self.learner.checkpoint
        if ckpt is None or ckpt.learner.adapt_defaults()[0] > 0:  # it draws a curve itself
            return None
        return next((p for p in shipped_checkpoints() if p.name == GRADIENT_PARTNER), None)

    def _opened(self) -> None:
        if self.compare_open():
            partner = self._gradient_partner()
            if partner is not None:
                self.compare.select(partner)
                self.choose(partner)
            if self.latest is not None:
                self._show(self.compare.a, self.latest)
            self._title_a()
            self._both_again()
        else:
            self.compareCurve.emit([], [], "")

    def _both_again(self) -> None:
        """Adapt both now, so that their timings compare."""
        self.learner.forget()
        self.second.forget()
        self.teaching.predict()

    def choose(self, path: Path | None) -> None:
        panel = self.compare
        if path is None:
            self.second.unload()
            self.compareCurve.emit([], [], "")
            panel.b.title.setText("second learner: none")
            panel.b.show_text("Choose a checkpoint above to compare.")
            panel.update_verdict()
        else:
            self.second.load(path, self.learner.device)
            panel.b.title.setText(f"B: loading {path.name}…")

    def _loaded_b(self, loaded) -> None:
        self.compare.b.title.setText(f"B: {loaded.checkpoint.learner.name} · {loaded.path.name}")
        self._both_again()

    def _title_a(self) -> None:
        learner = self.learner
        if learner.checkpoint is not None:
            name = learner.path.name if learner.path else ""
            self.compare.a.title.setText(f"A: {learner.checkpoint.learner.name} · {name}")

    def _stepped_b(self, step: Step) -> None:
        """B's inner-loop losses, drawn dashed on the main loss plot (learned optimiser against
        plain SGD, say) while the compare tab is open."""
        if step.step == 0:
            self._curve = ([], [])
        self._curve[0].append(step.step)
        self._curve[1].append(step.loss)
        if self._wanted() and (step.last or step.step % 10 == 0):  # a few redraws
            name = self.second.checkpoint.learner.name
            self.compareCurve.emit(self._curve[0], self._curve[1], name)

    def _predicted_b(self, result: Prediction) -> None:
        if self._wanted():
            self._show(self.compare.b, result)

    def _show(self, column, result: Prediction) -> None:
        t = self.teaching
        current = result.query_version == t.query_version and t.has_query()
        column.show_result(
            result.probs if current else None, result.names, result.elapsed, result.adapted,
            result.steps, result.rejected if current else None,
        )  # fmt: skip
        self.compare.update_verdict()

    def _problem_b(self, problem: Problem) -> None:
        b = self.compare.b
        if problem.code is ProblemCode.LOAD_FAILED:
            self.compare.select(self.second.path)  # a failed load keeps the previous one
            if self.second.path is None:
                b.title.setText("second learner: none")
            text = problem.text.replace("Could not load the checkpoint", "could not load")
            b.show_text(f"B failed: {text.replace('still using', 'still comparing with')}", True)
        elif problem.code not in (ProblemCode.SUPPORT, ProblemCode.MAP_FAILED):
            b.show_text(f"B failed: {problem.text}", error=True)
        self.compare.update_verdict()
