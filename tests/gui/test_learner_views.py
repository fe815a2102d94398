"""The model-based learners in the window: each has its own live view (issue 12), computed on
the model thread and shown in its own tab; the other learners have none."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from gui_helpers import draw, make_window
from test_window import SHAPES, adapted, teach

from core.algorithms import build_learner
from core.checkpoint import save_checkpoint
from metagui.app.records import MemoryView, SimilarityView


def checkpoint(tmp_path, algorithm: str, **config):
    torch.manual_seed(0)
    path = tmp_path / f"{algorithm}.pt"
    save_checkpoint(path, build_learner(algorithm, config), {"split": "vinyals"})
    return path


def draw_query(qtbot, window, shape="cross"):
    with qtbot.waitSignal(window.learner.viewed, timeout=10_000) as blocker:
        for stroke in SHAPES[shape]:
            draw(qtbot, window.query.canvas, stroke)
    return blocker.args[0]


def test_mann_shows_its_memory_while_the_support_is_fed(qtbot, tmp_path):
    window = make_window(qtbot, checkpoint(tmp_path, "mann", slots=16, controller=32))
    try:
        tabs = window.model
        assert tabs.isTabVisible(tabs.indexOf(window.model.learner_view))
        assert tabs.currentWidget() is window.model.learner_view
        assert "Memory" in tabs.tabText(tabs.currentIndex())
        views = []
        window.learner.viewed.connect(views.append)
        adapted(qtbot, window, lambda: teach(qtbot, window, per_class=2))
        qtbot.waitUntil(lambda: bool(views), timeout=5_000)
        view = views[-1]
        assert isinstance(view, MemoryView)
        n_support, heads = 6, window.checkpoint.learner.config.heads
        assert view.write.shape == view.read.shape == (n_support, 16)
        # every head reads a distribution over the slots; it writes between its previous read
        # (sum 1) and the ``heads`` least used slots (sum ``heads``), as in Santoro et al.
        np.testing.assert_allclose(view.read.sum(1), heads, rtol=1e-4)
        assert (view.write.sum(1) > heads - 1e-3).all()
        assert (view.write.sum(1) < heads * heads + 1e-3).all()
        # the rows are the support images in the order fed: each class twice
        assert sorted(view.labels.tolist()) == [0, 0, 1, 1, 2, 2]
        assert view.query_read is None
        view = draw_query(qtbot, window)
        assert view.query_read.shape == (1, 16)
        shown = window.model.learner_view._read.image
        assert shown.shape == (n_support + 1, 16)  # the query's read is the last row
        np.testing.assert_allclose(shown[-1], view.query_read[0])
        ticks = window.model.learner_view._write_plot.getAxis("left")._tickLevels[0]
        assert [t[1] for t in ticks][-1] == "query"
    finally:
        window.close()


def test_siamese_shows_the_similarity_to_each_support_image(qtbot, tmp_path):
    window = make_window(qtbot, checkpoint(tmp_path, "siamese", features=32))
    try:
        assert window.model.currentWidget() is window.model.learner_view
        adapted(qtbot, window, lambda: teach(qtbot, window, per_class=2))
        view = draw_query(qtbot, window)
        assert isinstance(view, SimilarityView)
        assert view.similarity.shape == (1, 6)
        assert ((view.similarity >= 0) & (view.similarity <= 1)).all()
        # the bars are these similarities, and the winner is the class of the largest one
        bars = window.model.learner_view._bars.opts["height"]
        np.testing.assert_allclose(bars, view.similarity[0])
        qtbot.waitUntil(lambda: window.results.current() is not None, timeout=5_000)
        winner = window.results.winner()
        assert view.labels[int(np.argmax(view.similarity[0]))] == winner
    finally:
        window.close()


def test_metanet_shows_how_the_query_reads_its_memory(qtbot, tmp_path):
    window = make_window(qtbot, checkpoint(tmp_path, "metanet", width=16))
    try:
        tabs = window.model
        assert tabs.currentWidget() is window.model.learner_view
        assert "MetaNet" in tabs.tabText(tabs.currentIndex())
        adapted(qtbot, window, lambda: teach(qtbot, window, per_class=2))
        view = draw_query(qtbot, window)
        assert isinstance(view, SimilarityView)
        assert view.similarity.shape == (1, 6)
        np.testing.assert_allclose(view.similarity.sum(1), 1.0, rtol=1e-5)  # one read
        bars = window.model.learner_view._bars.opts["height"]
        np.testing.assert_allclose(bars, view.similarity[0])
        assert sorted(view.labels.tolist()) == [0, 0, 1, 1, 2, 2]
    finally:
        window.close()


@pytest.mark.parametrize("algorithm", ["protonet", "metalstm"])
def test_other_learners_have_no_extra_tab(qtbot, tmp_path, algorithm):
    window = make_window(qtbot, checkpoint(tmp_path, algorithm))
    try:
        tabs = window.model
        assert not tabs.isTabVisible(tabs.indexOf(window.model.learner_view))
        assert tabs.currentWidget() is not window.model.learner_view
    finally:
        window.close()


def test_switching_from_mann_to_protonet_hides_the_memory(qtbot, tmp_path):
    window = make_window(qtbot, checkpoint(tmp_path, "mann", slots=16, controller=32))
    try:
        other = checkpoint(tmp_path, "protonet")
        with qtbot.waitSignal(window.learner.loaded, timeout=10_000):
            window.learner.load(other, window.learner.device)
        tabs = window.model
        assert not tabs.isTabVisible(tabs.indexOf(window.model.learner_view))
        assert window.model.learner_view.kind == ""
    finally:
        window.close()


def test_compare_sets_the_learned_optimiser_beside_plain_sgd(qtbot, tmp_path):
    """Meta-LSTM in A, MAML (plain SGD) in B: both inner-loop curves on the loss plot."""
    window = make_window(qtbot, checkpoint(tmp_path, "metalstm", hidden=8, adapt_steps=4))
    try:
        second = checkpoint(tmp_path, "maml", hidden=8, adapt_steps=6)
        panel = window.results.compare
        panel.add_checkpoint(second)
        window.results.setCurrentWidget(panel)
        with qtbot.waitSignal(window.second.loaded, timeout=10_000):
            panel.choice.setCurrentIndex(panel.index_of(second))
        with qtbot.waitSignal(window.second.adapted, timeout=20_000):
            teach(qtbot, window)
        qtbot.waitUntil(lambda: len(window.model.loss_plot.compare_data()[0]) == 7, timeout=5_000)
        qtbot.waitUntil(lambda: len(window.model.loss_plot.latest_data()[0]) == 5, timeout=5_000)
        steps, losses = window.model.loss_plot.compare_data()
        assert list(steps) == list(range(7)) and (losses > 0).all()
        assert "maml" in window.model.loss_plot._compare_label.toPlainText()
        window.results.setCurrentWidget(window.results.bars)  # compare off: B's curve goes
        assert len(window.model.loss_plot.compare_data()[0]) == 0
    finally:
        window.close()


def test_the_hidden_compare_column_is_not_redrawn_until_shown(qtbot, tmp_path):
    """Column A mirrors the main learner only while the compare tab is shown (a hidden column
    redrawn at every step cost the GUI thread); opening the tab shows the latest result."""
    window = make_window(qtbot, checkpoint(tmp_path, "protonet"))
    try:
        adapted(qtbot, window, lambda: teach(qtbot, window))
        for stroke in SHAPES["cross"]:
            draw(qtbot, window.query.canvas, stroke)
        qtbot.waitUntil(lambda: window.results.current() is not None, timeout=5_000)
        column = window.results.compare.a
        assert column.bars.names == () and column.winner is None
        window.results.setCurrentWidget(window.results.compare)
        qtbot.waitUntil(lambda: column.winner is not None, timeout=5_000)
        assert column.bars.names == ("A", "B", "C")
        assert column.winner == window.results.winner()
    finally:
        window.close()


@pytest.mark.parametrize("algorithm", ["mann", "siamese", "metanet"])
def test_the_caption_fits_its_two_lines_in_the_default_window(qtbot, tmp_path, algorithm):
    """The caption has a fixed height (the plots keep theirs): its text must fit in it at the
    window's default size, the whole explanation being in its tooltip."""
    window = make_window(qtbot, checkpoint(tmp_path, algorithm))
    try:
        caption = window.model.learner_view.caption
        qtbot.waitUntil(lambda: caption.isVisible() and caption.width() > 0, timeout=5_000)
        assert caption.text() and len(caption.toolTip()) > len(caption.text())
        assert caption.heightForWidth(caption.width()) <= caption.height()
    finally:
        window.close()


def test_memory_rows_are_named_only_as_densely_as_the_plot_height_allows(qtbot):
    """20 support images in a short heatmap: the row names thin out so that none print over
    another (at most one per ROW_LABEL_PX pixels), come back when the plot grows, and the query
    row is always named."""
    from metagui.ui.widgets.learner_view import ROW_LABEL_PX, LearnerViewPanel

    panel = LearnerViewPanel()
    qtbot.addWidget(panel)
    panel.set_kind("memory")
    names = tuple(f"class {i}" for i in range(20))
    rng = np.random.default_rng(0)
    view = MemoryView(
        read=rng.random((20, 32)),
        write=rng.random((20, 32)),
        labels=np.arange(20),
        usage=np.zeros(32),
        query_read=rng.random((1, 32)),
        names=names,
        heads=1,
    )

    def named_rows():
        ticks = panel._write_plot.getAxis("left")._tickLevels[0]
        return [y for y, _ in ticks], [n for _, n in ticks]

    def fits():
        ys, labels = named_rows()
        rows_px = panel._write_plot.vb.height() / 21  # 20 support rows + the query's
        gaps = [(b - a) * rows_px for a, b in itertools.pairwise(ys)]
        return labels[-1] == "query" and min(gaps) >= ROW_LABEL_PX - 1e-6

    for height, expect_all in ((220, False), (900, True)):
        panel.resize(700, height)
        panel.show()
        panel.show_view(view)
        qtbot.waitUntil(lambda: panel._write_plot.vb.height() > 0)
        qtbot.waitUntil(fits)
        assert (len(named_rows()[1]) == 21) is expect_all
