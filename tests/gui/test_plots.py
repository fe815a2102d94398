"""The loss plot keeps its axes still while a curve grows and still shows every point; the
probability bars list many classes readably and cheaply; the embedding map's names never overlap."""

from __future__ import annotations

import itertools

import numpy as np
from PySide6.QtGui import QFontMetrics, QImage, QPainter

from metagui.ui.widgets.bars import ProbabilityPlot
from metagui.ui.widgets.plots import KEPT_CURVES, LossPlot


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


def test_the_log_axis_labels_decades_only(qtbot):
    """The 20-way screenshot showed "9 8 7 6 5 4 3 2" overlapping on the loss axis."""
    plot = LossPlot()
    qtbot.addWidget(plot)
    plot.resize(420, 240)
    plot.show()
    plot.begin(10)
    plot.set_latest(list(range(11)), list(np.geomspace(3.0, 0.11, 11)))
    qtbot.wait(20)
    axis = plot.getAxis("left")
    image = QImage(50, 50, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        _, _, texts = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    labels = [t[2] for t in texts if t[2]]
    assert len(labels) >= 2, labels
    assert all(np.log10(float(t)).is_integer() for t in labels), labels


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


# ---------------------------------------------------------------- probability bars
#: Long Omniglot class names as the window shows them (metagui.app.compute.character_label).
NAMES_20 = (
    "Mkhedruli (Georgian) 12 ↻270°",
    "Atlantean 3",
    "Ge ez 21 ↻90°",
    "Glagolitic 40",
    "Gurmukhi 7 ↻180°",
    "Tifinagh 55",
    "Old Church Slavonic (Cyrillic) 23 ↻180°",  # the longest of all names
    "Sylheti 9",
    "Kannada 33 ↻90°",
    "Malayalam 44",
    "Oriya 2",
    "Tengwar 17",
    "Keble 4 ↻270°",
    "Aurek-Besh 22",
    "Angelic 8",
    "Avesta 13",
    "Manipuri 30",
    "Syriac (Serto) 6 ↻90°",
    "Atemayar Qelisayer 11",
    "ULOG 19",
)


def probabilities(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).dirichlet(np.full(n, 0.5))


def bars_plot(qtbot, width: int, height: int) -> ProbabilityPlot:
    plot = ProbabilityPlot()
    qtbot.addWidget(plot)
    plot.resize(width, height)
    plot.show()
    qtbot.waitExposed(plot)
    return plot


def inside_view(plot: ProbabilityPlot, item) -> bool:
    """The text item is drawn wholly inside the view (the view clips what is outside)."""
    plot.grab()  # text items place themselves when painted
    view = plot.getPlotItem().vb.sceneBoundingRect()
    text = item.mapRectToScene(item.boundingRect())
    return view.contains(text)


def test_bars_are_sorted_by_probability_with_the_winner_first(qtbot):
    plot = bars_plot(qtbot, 500, 400)
    names = ("A", "B", "C", "D")
    plot.show_probs(np.array([0.1, 0.6, 0.05, 0.25]), names)
    assert plot.shown_rows() == [("B", "60%"), ("D", "25%"), ("A", "10%"), ("C", "5%")]
    assert plot.rows == [(1,), (3,), (0,), (2,)]
    assert plot.name_items[0].bold and not any(item.bold for item in plot.name_items[1:4])
    plot.show_probs(None, names)  # no query: the classes in their own order, no percentages
    assert plot.shown_rows() == [(n, "") for n in names]
    assert not any(item.isVisible() for item in plot.value_items)


def test_rows_that_do_not_fit_become_one_others_row(qtbot):
    plot = bars_plot(qtbot, 420, 150)
    probs = probabilities(20)
    plot.show_probs(probs, NAMES_20)
    capacity = plot.capacity()
    assert 2 <= capacity < 20
    rows = plot.shown_rows()
    assert len(rows) == capacity
    order = np.argsort(-probs)
    assert [name for name, _ in rows[:-1]] == [NAMES_20[i] for i in order[: capacity - 1]]
    hidden = 20 - (capacity - 1)
    rest = probs[order[capacity - 1 :]].sum()
    assert rows[-1] == (f"{hidden} others", f"{rest:.0%}")
    assert sorted(i for row in plot.rows for i in row) == list(range(20))
    plot.resize(420, 900)  # room for all: no "others" row
    qtbot.waitUntil(lambda: len(plot.shown_rows()) == 20)
    assert [name for name, _ in plot.shown_rows()] == [NAMES_20[i] for i in order]


def test_twenty_names_are_whole_and_inside_the_plot_in_the_default_window(qtbot, window):
    window.resize(1400, 900)
    qtbot.wait(50)
    plot = window.results.bars
    plot.show_probs(probabilities(20), NAMES_20)
    assert plot.capacity() >= 10  # most of a 20-way task is listed at the default size
    for r, (name, _) in enumerate(plot.shown_rows()):
        if r < len(plot.rows) - 1 or len(plot.rows[r]) == 1:
            assert name in NAMES_20  # whole, not elided
        font = plot.winner_font if r == 0 else plot.row_font
        assert QFontMetrics(font).horizontalAdvance(name) <= plot.name_px
        assert inside_view(plot, plot.name_items[r]) and inside_view(plot, plot.value_items[r])
    assert plot._note.isVisible() and "rotated" in plot._note.text  # the ↻ suffix explained
    assert "rotated" in plot.toolTip() and all(n in plot.toolTip() for n in NAMES_20)


def test_names_are_elided_not_clipped_in_a_narrow_plot(qtbot):
    plot = bars_plot(qtbot, 260, 300)
    plot.show_probs(probabilities(20), NAMES_20)
    shown = [name for name, _ in plot.shown_rows()]
    assert any("…" in name for name in shown)  # the long ones, in the middle
    assert all(name.endswith("°") or name[-1].isdigit() or "others" in name for name in shown)
    for r in range(len(shown)):
        assert inside_view(plot, plot.name_items[r]) and inside_view(plot, plot.value_items[r])


def test_probability_updates_touch_neither_the_axes_nor_the_view_range(qtbot, monkeypatch):
    plot = bars_plot(qtbot, 500, 300)
    plot.show_probs(probabilities(20, seed=1), NAMES_20)
    view = plot.getPlotItem().vb
    before = view.viewRange()
    calls = []
    monkeypatch.setattr(view, "setRange", lambda *a, **k: calls.append("setRange"))
    for side in ("left", "bottom"):
        axis = plot.getAxis(side)
        monkeypatch.setattr(axis, "setTicks", lambda *a, **k: calls.append("setTicks"))
    first = plot.shown_rows()
    for seed in range(2, 6):  # new probabilities, re-ranked rows
        plot.show_probs(probabilities(20, seed=seed), NAMES_20)
    assert plot.shown_rows() != first  # the rows did change...
    assert calls == [] and view.viewRange() == before  # ...without an axis or a range
    assert not plot.getAxis("left").isVisible() and not plot.getAxis("bottom").isVisible()


def _map(centres: np.ndarray):
    from metagui.app.records import MapUpdate

    return MapUpdate(
        support=centres.copy(),
        labels=np.arange(len(centres)),
        centres=centres,
        query=centres[:1] + 0.01,
        explained=np.array([0.5, 0.2]),
        names=tuple(f"Old Church Slavonic character{i:02d}" for i in range(len(centres))),
    )


def _shown_boxes(plot) -> list:
    return [label.sceneBoundingRect() for label in plot._names if label.isVisible()]


def test_map_names_never_overlap_and_the_predicted_class_keeps_its_name(qtbot):
    from metagui.ui.widgets.embedding_plot import EmbeddingPlot

    plot = EmbeddingPlot()
    qtbot.addWidget(plot)
    plot.resize(420, 240)
    plot.show()
    qtbot.waitExposed(plot)
    crowded = _map(np.random.default_rng(0).normal(size=(20, 2)))
    plot.show_map(crowded, 13)
    qtbot.wait(50)  # the labels' scene positions follow the view on the next paint
    boxes = _shown_boxes(plot)
    assert 1 < len(boxes) < 20
    assert not any(a.intersects(b) for a, b in itertools.combinations(boxes, 2))
    assert plot._names[13].isVisible()  # the winner's name comes first
    # every star still tells its name on hover
    assert [p.data() for p in plot._centres.points()] == list(crowded.names)
    assert plot._centres.opts["tip"](x=0, y=0, data="Tengwar") == "Tengwar"
    # the query moving to another class brings that class's name
    plot.show_map(crowded, 4)
    assert plot._names[4].isVisible()
    # four classes far apart: every name shows
    apart = _map(np.array([[0.0, 0.0], [30.0, 0.0], [0.0, 10.0], [30.0, 10.0]]))
    plot.show_map(apart, 0)
    qtbot.wait(50)
    assert [label.isVisible() for label in plot._names[:4]] == [True] * 4
    assert not any(label.isVisible() for label in plot._names[4:])


def test_a_compared_curve_stays_in_view_when_the_main_learner_takes_no_steps(qtbot):
    plot = LossPlot()
    qtbot.addWidget(plot)
    plot.set_compare(list(range(11)), [1.0 / (k + 1) ** 3 for k in range(11)], "anil")
    plot.begin(0)  # ProtoNet: one point at step 0
    plot.set_latest([0], [0.5])
    (_, x_high), (y_low, _) = plot.getPlotItem().vb.viewRange()
    assert x_high >= 10 and y_low <= np.log10(1.0 / 11**3)
    plot.begin(3)
    plot.set_latest([0, 1], [0.5, 0.4])
    plot.forget()  # another learner loaded: its predecessor's curves go
    assert plot.curve_count() == 0 and plot.latest_data()[0].size == 0
    plot.begin(5)
    assert plot.curve_count() == 1
