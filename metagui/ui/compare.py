"""Compare mode: the second learner is a second ``LearnerController`` (its own checkpoint,
``compareWorker`` thread and adaptation cache), so both columns adapt by the same policy; this
binds it and the main learner's results to the compare panel's two columns."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject

from metagui.control.learner import (
    LearnerController,
    Loaded,
    Predicted,
    Problem,
    ProblemCode,
    Query,
    Stepped,
)


class CompareBinding(QObject):
    def __init__(self, window, second: LearnerController) -> None:
        super().__init__(window)
        self.window, self.second, self.panel = window, second, window.compare_panel
        self.panel.checkpointChosen.connect(self.choose)
        window.result_tabs.currentChanged.connect(lambda _i: self._opened())
        second.loaded.connect(self._loaded)
        second.predicted.connect(self._predicted)
        second.problem.connect(self._problem)
        second.stepped.connect(self._stepped)
        self._curve: tuple[list[int], list[float]] = ([], [])
        self._latest_a: Predicted | None = None

    @property
    def checkpoint(self):
        return self.second.checkpoint

    @property
    def path(self) -> Path | None:
        return self.second.path

    def wanted(self) -> bool:
        return self.second.checkpoint is not None and (
            self.window.result_tabs.currentWidget() is self.panel
        )

    def request(self, query: Query) -> None:
        if self.wanted():
            self.second.request(self.window.session, query)

    def _opened(self) -> None:
        if self.window.result_tabs.currentWidget() is self.panel:
            if self._latest_a is not None:
                self.show_a(self._latest_a)
            self._both_again()
        else:
            self._show_curve(([], []))

    def _stepped(self, step: Stepped) -> None:
        """B's inner-loop losses, drawn dashed on the main loss plot (learned optimiser against
        plain SGD, say) while the compare tab is open."""
        if step.step == 0:
            self._curve = ([], [])
        self._curve[0].append(step.step)
        self._curve[1].append(step.loss)
        last = step.step == step.total_steps
        if self.wanted() and (last or step.step % 10 == 0):  # a few redraws, not one per step
            self._show_curve(self._curve)

    def _show_curve(self, curve: tuple[list[int], list[float]]) -> None:
        learner = self.second.checkpoint.learner if self.second.checkpoint else None
        self.window.loss_plot.set_compare(*curve, learner.name if learner else "")

    def _both_again(self) -> None:
        """Adapt both now, so that their timings compare."""
        self.window.learner.forget()
        self.second.forget()
        self.window.request_prediction()

    def choose(self, path: Path | None) -> None:
        if path is None:
            self.second.unload()
            self._show_curve(([], []))
            self.panel.b.title.setText("second learner: none")
            self.panel.b.show_text("Choose a checkpoint above to compare.")
            self.panel.update_verdict()
        else:
            self.second.load(path, self.window.device)
            self.panel.b.title.setText(f"B: loading {path.name}…")

    def _loaded(self, loaded: Loaded) -> None:
        self.panel.b.title.setText(f"B: {loaded.checkpoint.learner.name} · {loaded.path.name}")
        self._both_again()

    def title_a(self) -> None:
        learner = self.window.learner
        if learner.checkpoint is not None:
            name = learner.path.name if learner.path else ""
            self.panel.a.title.setText(f"A: {learner.checkpoint.learner.name} · {name}")

    def show_a(self, result: Predicted) -> None:
        """The main learner's result, into column A (drawn only while the compare tab is shown:
        a hidden column redrawn at every adaptation step cost the GUI thread ~1 ms a step)."""
        self._latest_a = result
        if self.window.result_tabs.currentWidget() is self.panel:
            self.title_a()
            self._show(self.panel.a, result)

    def _predicted(self, result: Predicted) -> None:
        if self.wanted():
            self._show(self.panel.b, result)

    def _show(self, column, result: Predicted) -> None:
        current = result.query_version == self.window.query().version and self.window.has_query()
        probs = result.probs if current else None
        rejected = result.rejected if current else None
        column.show_result(
            probs, result.names, result.elapsed, result.adapted, result.steps, rejected
        )
        self.panel.update_verdict()

    def _problem(self, problem: Problem) -> None:
        b = self.panel.b
        if problem.code is ProblemCode.LOAD_FAILED:
            self.panel.select(self.second.path)  # a failed load keeps the previous one
            if self.second.path is None:
                b.title.setText("second learner: none")
            text = problem.text.replace("Could not load the checkpoint", "could not load")
            b.show_text(f"B failed: {text.replace('still using', 'still comparing with')}", True)
        elif problem.code not in (ProblemCode.SUPPORT, ProblemCode.MAP_FAILED):
            b.show_text(f"B failed: {problem.text}", error=True)
        self.panel.update_verdict()

    def support_problem(self, text: str) -> None:
        """The classes cannot be used yet: both columns say why (B only once it has a learner)."""
        columns = (self.panel.a, self.panel.b) if self.second.checkpoint else (self.panel.a,)
        for column in columns:
            column.show_text(text)
        self.panel.update_verdict()
