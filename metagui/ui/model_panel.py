"""The model panel: what the main learner does while it adapts, as tabs: the inner-loop loss, the
embedding map (metric learners), and the learner's own view (MANN's memory, Siamese
similarities). Bound to the main ``LearnerController``."""

from __future__ import annotations

from PySide6.QtWidgets import QTabWidget

from metagui.app.records import Loaded, Problem, ProblemCode, Step
from metagui.control.learner import LearnerController
from metagui.control.throttle import Throttle
from metagui.ui.widgets.controls import named
from metagui.ui.widgets.embedding_plot import EmbeddingPlot
from metagui.ui.widgets.learner_view import LearnerViewPanel
from metagui.ui.widgets.plots import LossPlot

#: The loss curve is redrawn at most every 50 ms.
PLOT_INTERVAL_MS = 50
LEARNER_VIEW_TITLES = {
    "memory": "Memory (MANN)",
    "similarity": "Similarity to each example",
    "attention": "Memory read (MetaNet)",
}
NO_MAP = (
    "{name} classifies with adapted weights, not by distances:\nits story is the inner-loop "
    "loss. The map is drawn for\nthe learners that compare embeddings (ProtoNet, Matching, "
    "Relation)."
)


class ModelPanel(QTabWidget):
    def __init__(self, learner: LearnerController, winner, parent=None) -> None:
        """``winner()``: the class the shown prediction picked (None: none), for the map."""
        super().__init__(parent)
        named(self, "modelTabs", "Loss curve or embedding map")
        self.learner, self.winner = learner, winner
        self.loss_plot = LossPlot()
        self.map_plot = EmbeddingPlot()
        self.learner_view = LearnerViewPanel()  # MANN's memory, Siamese similarities
        self.addTab(self.loss_plot, "Inner-loop loss")
        self.addTab(self.map_plot, "Embedding map")
        self.addTab(self.learner_view, "Learner view")
        self.setTabVisible(2, False)
        self.setMinimumHeight(230)
        self._losses: tuple[list[int], list[float]] = ([], [])
        self._new_curve: int | None = None
        self._throttle = Throttle(PLOT_INTERVAL_MS, self._draw_loss, self)
        learner.loaded.connect(self._loaded)
        learner.stepped.connect(self._stepped)
        learner.adapted.connect(self._adapted)
        learner.mapped.connect(lambda found: self.map_plot.show_map(found, self.winner()))
        learner.viewed.connect(self.learner_view.show_view)
        learner.problem.connect(self._problem)
        self.currentChanged.connect(lambda _i: self._tab_changed())

    def _loaded(self, loaded: Loaded) -> None:
        learner = loaded.checkpoint.learner
        self.loss_plot.forget()  # the previous learner's curves
        metric = self.learner.has_map()
        self.learner.map_wanted = metric
        self.setCurrentWidget(self.map_plot if metric else self.loss_plot)
        if not metric:
            self.map_plot.show_message(NO_MAP.format(name=learner.name))
        kind = learner.capabilities.live_view
        self.learner_view.set_kind(kind)
        index = self.indexOf(self.learner_view)
        self.setTabText(index, LEARNER_VIEW_TITLES.get(kind, "Learner view"))
        self.setTabVisible(index, bool(kind))
        if kind:
            self.setCurrentWidget(self.learner_view)

    def _stepped(self, step: Step) -> None:
        if step.step == 0:
            self._losses = ([], [])
            self._new_curve = step.total_steps
        self._losses[0].append(step.step)
        self._losses[1].append(step.loss)
        self._throttle.request()

    def _draw_loss(self) -> None:
        if self._new_curve is not None:
            self.loss_plot.begin(self._new_curve)
            self._new_curve = None
        if self._losses[0]:
            self.loss_plot.set_latest(*self._losses)

    def _adapted(self, _last: Step) -> None:
        self._throttle.now()
        self.loss_plot.finish()

    def show_compare(self, steps, losses, name: str) -> None:
        """The compared learner's curve (dashed) on the loss plot; empty hides it."""
        self.loss_plot.set_compare(steps, losses, name)

    def _problem(self, problem: Problem) -> None:
        if problem.code is ProblemCode.MAP_FAILED:
            self.map_plot.show_message(problem.text)
        elif problem.code is ProblemCode.SUPPORT and self.learner.has_map():
            self.map_plot.show_message(f"No map yet: {problem.text}")

    def _tab_changed(self) -> None:
        self.learner.map_wanted = self.currentWidget() is self.map_plot
        self.learner.request_map()
