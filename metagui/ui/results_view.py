"""The main learner's results on screen: loss curve, probability bars, the prediction line
(mixed into ``MainWindow``)."""

from __future__ import annotations

import numpy as np

from metagui.control.learner import Predicted
from metagui.ui.widgets.images import class_colour

LEARNER_VIEW_TITLES = {"memory": "Memory (MANN)", "similarity": "Similarity to each example"}
#: Colour of the "none of these" answer (no class's colour).
NONE_COLOUR = "#555555"


class ResultsView:
    def _winner(self) -> int | None:
        """The predicted class of the (first) query; None when none, or "none of these"."""
        shown = self._current_probs()
        if shown is None or (shown.rejected is not None and shown.rejected[0]):
            return None
        return int(np.argmax(shown.probs[0]))

    # ---------------------------------------------------------------- plots
    def _update_plots(self) -> None:
        if self._new_curve is not None:
            self.loss_plot.begin(self._new_curve)
            self._new_curve = None
        if self._losses[0]:
            self.loss_plot.set_latest(*self._losses)
        self._show_bars()

    def _current_probs(self) -> Predicted | None:
        shown = self._probs
        names = self.session.names()
        if shown is None or shown.probs is None or shown.probs.shape[1] != len(names):
            return None
        if shown.query_version != self._query_version or not self.has_query():
            return None
        return shown

    def _show_bars(self) -> None:
        names = self.session.names()
        shown = self._current_probs()
        self.bars.show_probs(None if shown is None else shown.probs[0], names)
        if shown is None:
            self._show_prediction(None, names)
        else:
            self._show_prediction(shown.probs, names, shown.rejected)
        if shown is not None:
            self.shown_query_version = shown.query_version
            self.predictionShown.emit()

    def _show_prediction(
        self,
        probs: np.ndarray | None,
        names: tuple[str, ...],
        rejected: np.ndarray | None = None,
    ) -> None:
        """``probs`` ``(n_query, n_way)``; ``rejected`` ``(n_query,)``: "none of these"."""
        text, style = "", ""
        if probs is not None:
            winner = int(np.argmax(probs[0]))
            refused = rejected is not None and bool(rejected[0])
            if refused:
                text = f"→ none of these  (closest: {names[winner]})"
                style = f"color: {NONE_COLOUR};"
            else:
                text = f"→ {names[winner]}  ({probs[0, winner]:.0%})"
                style = f"color: {class_colour(winner).name()};"
            if len(probs) > 1:
                others = ", ".join(
                    "none"
                    if rejected is not None and rejected[i]
                    else names[int(probs[i].argmax())]
                    for i in range(1, min(len(probs), 6))
                )
                text += f"<br><small>other images: {others}</small>"
            if self._truth is not None and self._truth < len(names):
                right = winner == self._truth and not refused
                text += "  ✓ correct" if right else f"  ✗ wrong: it is {names[self._truth]}"
                style = "color: #1e8449;" if right else "color: #c0392b;"
        # unchanged text or style sheet is not set again: a style sheet change costs a restyle
        if self.prediction.text() != text:
            self.prediction.setText(text)
        if self.prediction.styleSheet() != style:
            self.prediction.setStyleSheet(style)

    # ---------------------------------------------------------------- the learner's own view
    def _show_learner_view(self, kind: str) -> None:
        """A tab for MANN's memory or Siamese similarities, shown (first) when the learner has
        one; hidden for the others."""
        self.learner_view.set_kind(kind)
        index = self.model_tabs.indexOf(self.learner_view)
        self.model_tabs.setTabText(index, LEARNER_VIEW_TITLES.get(kind, "Learner view"))
        self.model_tabs.setTabVisible(index, bool(kind))
        if kind:
            self.model_tabs.setCurrentWidget(self.learner_view)
