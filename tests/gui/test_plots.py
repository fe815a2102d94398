"""The loss plot keeps its axes still while a curve grows and still shows every point."""

from __future__ import annotations

import itertools

import numpy as np

from metagui.widgets.plots import KEPT_CURVES, LossPlot


def y_range(plot: LossPlot) -> tuple[float, float]:
    return tuple(plot.getPlotItem().vb.viewRange()[1])


def test_ranges_cover_the_curve_and_only_widen_within_an_adaptation(qtbot):
    plot = LossPlot()
    qtbot.addWidget(plot)
    plot.begin(10)
    assert plot.getPlotItem().vb.viewRange()[0][1] >= 10  # all steps fit from the start
    losses = [2.0, 1.5, 0.9, 0.5, 0.3, 0.04]
    ranges = []
    for n in range(1, len(losses) + 1):
        plot.set_latest(list(range(n)), losses[:n])
        ranges.append(y_range(plot))
        low, high = ranges[-1]
        assert low <= np.log10(min(losses[:n])) and high >= np.log10(max(losses[:n]))
    assert all(b[0] <= a[0] and b[1] >= a[1] for a, b in itertools.pairwise(ranges))
    assert len(set(ranges)) < len(ranges)  # whole decades: not a new range per step


def test_new_adaptation_refits_to_the_kept_curves_and_summary_text(qtbot):
    plot = LossPlot()
    qtbot.addWidget(plot)
    plot.begin(3)
    plot.set_latest([0, 1, 2, 3], [1e3, 1.0, 1e-2, 1e-4])
    plot.finish()
    assert "1e+03" in plot._summary.toPlainText() and "0.0001" in plot._summary.toPlainText()
    for _ in range(KEPT_CURVES):  # the huge curve scrolls out of the kept ones
        plot.begin(3)
        plot.set_latest([0, 1, 2, 3], [1.0, 0.5, 0.2, 0.1])
        plot.finish()
    assert plot._summary.toPlainText().startswith("loss 1 → 0.1")
    plot.begin(3)
    high = y_range(plot)[1]
    assert high < 2  # no longer stretched to 1e3
    assert plot.curve_count() == KEPT_CURVES


def test_zero_loss_is_drawn_at_the_floor(qtbot):
    plot = LossPlot()
    qtbot.addWidget(plot)
    plot.begin(0)
    plot.set_latest([0], [0.0])
    plot.finish()
    assert "fit at step 0" in plot._summary.toPlainText()
    assert np.isfinite(y_range(plot)).all()
