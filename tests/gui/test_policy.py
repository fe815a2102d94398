"""One adaptation policy for every learner and column; the defects of issue 13 stay fixed."""

from __future__ import annotations

import time

import pytest
import torch
from gui_helpers import draw, line, make_window
from PySide6.QtCore import Qt
from test_capabilities import tiny  # tests/ (the tiny learners of every algorithm)
from test_window import SHAPES, adapted, teach

from core.algorithms import ALGORITHMS, build_learner
from core.checkpoint import save_checkpoint
from metagui.ui.widgets.controls import SettingsBar


def checkpoint(tmp_path, algorithm: str, **config):
    torch.manual_seed(0)
    path = tmp_path / f"{algorithm}.pt"
    save_checkpoint(path, build_learner(algorithm, config), {"split": "vinyals"})
    return path


@pytest.mark.parametrize(
    "algorithm,config",
    [("protonet", {}), ("metasgd", {}), ("maml", {"adapt_steps": 3}), ("matching", {})],
)
def test_boxes_start_at_the_checkpoints_own_values(qtbot, tmp_path, algorithm, config):
    window = make_window(qtbot, checkpoint(tmp_path, algorithm, **config))
    try:
        learner = window.checkpoint.learner
        steps, lr = learner.adapt_defaults()
        s = window.settings
        assert s.steps.value() == steps
        assert s.overrides() == (None, None) and not s.reset.isEnabled()
        assert (window.learner.steps, window.learner.lr) == (None, None)  # as core.predict
        applies = learner.capabilities.adapt_steps
        assert s.steps.isEnabled() == applies
        if not applies:
            assert "do not apply" in s.steps.toolTip()
            return
        if lr is None:  # Meta-SGD: its learned per-weight rates, shown as such
            assert s.lr.text() == "learned"
        adapted(qtbot, window, lambda: teach(qtbot, window))
        steps_shown, _ = window.model.loss_plot.latest_data()
        assert len(steps_shown) == steps + 1
        s.lr.setValue(0.05)  # an override is visible and used
        assert s.reset.isEnabled() and "overridden" in s.reset.text()
        adapted(qtbot, window, window.setup._hyper_changed)
        assert window.learner.lr == 0.05
        s.reset.click()
        assert s.overrides() == (None, None)
    finally:
        window.close()


def test_a_query_does_not_restart_an_unfinished_adaptation(qtbot, tmp_path):
    window = make_window(qtbot, checkpoint(tmp_path, "maml"))
    try:
        teach(qtbot, window, per_class=2)
        learner = window.learner.checkpoint.learner
        plain = learner.adapt

        def slow_adapt(*args, **kwargs):  # a 150-step adaptation outlasts the drawing, always
            for record in plain(*args, **kwargs):
                time.sleep(0.02)
                yield record

        learner.adapt = slow_adapt
        window.settings.steps.setValue(150)
        started = []
        window.learner.thread.started_job.connect(lambda job: started.append(job.kind))
        with qtbot.waitSignal(window.learner.stepped, timeout=10_000):
            window.setup._hyper_changed()
        for stroke in SHAPES["cross"]:
            draw(qtbot, window.query.canvas, stroke)
        assert window.learner.busy()
        qtbot.waitUntil(
            lambda: window.results.shown_query_version == window.teaching.query().version,
            timeout=60_000,
        )
        assert started.count("adapt") == 1, started
        assert abs(window.results.bars.probs.sum() - 1) < 1e-4
    finally:
        window.close()


def test_undo_follows_the_canvas_last_drawn_on_and_removal_can_be_undone(qtbot, window):
    teach(qtbot, window)
    draw(qtbot, window.teach.canvas, line((0.2, 0.2), (0.8, 0.3)))
    draw(qtbot, window.query.canvas, line((0.2, 0.5), (0.8, 0.5)))
    window.edit.undo_action.trigger()
    assert window.query.canvas.is_empty() and not window.teach.canvas.is_empty()
    removed = window.session.classes[1]
    window.teaching.remove_class(1)
    assert window.session.names() == ("A", "C")
    window.edit.restore_example_action.trigger()
    assert window.session.classes[1] is removed and window.session.names() == ("A", "B", "C")


def test_names_empty_duplicate_and_enter_in_a_name_field(qtbot, window):
    window.teaching.rename_class(1, "A")
    assert window.session.names()[1] == "A 2" and "taken" in window.banner.text()
    window.teaching.rename_class(2, "   ")
    assert window.session.names()[2] == "C"
    draw(qtbot, window.teach.canvas, line((0.2, 0.5), (0.8, 0.5)))
    field = window.teach.panel.rows[0].name
    field.setFocus()
    qtbot.waitUntil(field.hasFocus)
    qtbot.keyClick(field, Qt.Key.Key_Return)
    assert not window.session.classes[0].examples  # Enter committed the name only
    assert not window.teach.canvas.is_empty()
    window.teach.canvas.setFocus()


def test_a_message_moves_nothing(qtbot, window):
    qtbot.wait(50)
    before = window.teach.canvas.geometry(), window.query.canvas.geometry()
    window._message("a message " * 40, "error")
    qtbot.wait(50)
    assert (window.teach.canvas.geometry(), window.query.canvas.geometry()) == before
    window.banner.clear_message()
    qtbot.wait(50)
    assert (window.teach.canvas.geometry(), window.query.canvas.geometry()) == before


def test_export_from_the_window_embeds_the_class_names(qtbot, window, tmp_path):
    teach(qtbot, window)
    out = tmp_path / "mine.pt"
    with qtbot.waitSignal(window.background.exported, timeout=30_000):
        window.files.export_classifier(out)
    module = torch.jit.load(str(out))
    assert list(module.class_names) == ["A", "B", "C"]
    support = window.session.support_set(window.learner.spec)
    probs = module(support.images)
    assert probs.shape == (3, 3) and torch.allclose(probs.sum(1), torch.ones(3), atol=1e-5)
    assert "Exported mine.pt" in window.banner.text()


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_the_lr_box_says_whether_a_rate_applies(qtbot, name):
    """Learners without a learning rate read "n/a"; learned rates (Meta-SGD) read "learned"."""
    learner = tiny(name)
    bar = SettingsBar(["cpu"])
    qtbot.addWidget(bar)
    bar.show_learner(learner)
    steps, lr = learner.adapt_defaults()
    caps = learner.capabilities
    if not caps.lr_override:  # Relation, Matching, MetaNet, Siamese, MANN
        assert bar.lr.text() == "n/a" and not bar.lr.isEnabled()
        assert "no learning rate applies" in bar.lr.toolTip()
    elif lr is None:  # Meta-SGD, Meta-LSTM
        assert bar.lr.text() == "learned" and bar.lr.isEnabled()
        assert "learned" in bar.lr.toolTip() and caps.lr_override in bar.lr.toolTip()
    else:
        assert bar.lr.value() == pytest.approx(lr) and bar.lr.isEnabled()
        assert "n/a" not in bar.lr.toolTip() and caps.lr_override in bar.lr.toolTip()
    assert bar.steps.isEnabled() == caps.adapt_steps and bar.steps.value() == steps
    assert bar.overrides() == (None, None)


def test_relation_in_the_window_shows_no_learning_rate(qtbot, tmp_path):
    window = make_window(qtbot, checkpoint(tmp_path, "relation"))
    try:
        assert window.settings.lr.text() == "n/a" and not window.settings.lr.isEnabled()
        window.setup.load(checkpoint(tmp_path, "metasgd"))
        qtbot.waitUntil(lambda: window.checkpoint.learner.name == "metasgd", timeout=10_000)
        assert window.settings.lr.text() == "learned" and window.settings.lr.isEnabled()
    finally:
        window.close()
