"""The window's open-set answer: "none of these (closest: …)" with the switch on, the plain
answer with it off, decided on the model thread; the switch says why when it cannot work."""

from __future__ import annotations

import threading

import pytest
import torch
from gui_helpers import draw, drop_files, extract_characters, line, make_window
from test_window import SHAPES, teach

from core.algorithms import build_learner
from core.checkpoint import save_checkpoint
from core.openset.calibration import Calibration, calibration_path, file_sha256, save_calibration
from core.openset.rejector import Rejector


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "protonet-open.pt"
    save_checkpoint(path, build_learner("protonet", {}), {"split": "vinyals"})
    return path


def calibrate(path, threshold: float, algorithm: str = "protonet") -> None:
    """A calibration whose 'centre' threshold is ``threshold`` for every shot count."""
    doc = Calibration("centre", {1: threshold}, 0.95, algorithm, file_sha256(path))
    save_calibration(calibration_path(path), doc)


def shown(qtbot, window):
    qtbot.waitUntil(
        lambda: window.results.shown_query_version == window.teaching.query().version,
        timeout=10_000,
    )
    qtbot.wait(20)
    return window.query.prediction.text()


def draw_query(qtbot, window, strokes):
    window.query.canvas.clear()
    for stroke in strokes:
        draw(qtbot, window.query.canvas, stroke)
    return shown(qtbot, window)


def test_switch_is_disabled_and_says_why_without_a_calibration(qtbot, checkpoint):
    window = make_window(qtbot, checkpoint)
    box = window.query.openset_check
    assert box.objectName() == "openSetCheck" and box.accessibleName()
    assert not box.isEnabled()
    assert "no calibration file" in box.toolTip() and "python -m core.openset" in box.toolTip()
    window.close()


def test_none_of_these_with_the_switch_on_and_the_answer_with_it_off(
    qtbot, checkpoint, monkeypatch
):
    calibrate(checkpoint, 1e-6)  # everything not identical to a class centre is "unknown"
    threads = []

    def spy(method):
        def recorded(self, *args, **kwargs):
            threads.append(threading.current_thread() is threading.main_thread())
            return method(self, *args, **kwargs)

        return recorded

    for name in ("reject", "decide", "fit"):
        original = getattr(Rejector, name)
        if name == "fit":
            monkeypatch.setattr(Rejector, name, classmethod(spy(original.__func__)))
        else:
            monkeypatch.setattr(Rejector, name, spy(original))
    window = make_window(qtbot, checkpoint)
    box = window.query.openset_check
    assert box.isEnabled() and "calibrated" in box.toolTip()
    teach(qtbot, window)
    plain = draw_query(qtbot, window, [line((0.1, 0.9), (0.9, 0.1))])
    assert plain.startswith("→ ") and "%" in plain and "none of these" not in plain
    assert not threads  # off: nothing decided
    box.setChecked(True)
    qtbot.waitUntil(lambda: "none of these" in window.query.prediction.text(), timeout=10_000)
    text = window.query.prediction.text()
    assert text.startswith("→ none of these  (closest: ") and text.endswith(")")
    closest = text.split("closest: ")[1].rstrip(")")
    assert closest in window.session.names()
    assert window.results.winner() is None  # the map draws no line to a class
    assert threads and not any(threads)  # decided on the model thread only
    assert window.qsettings.value("openset", type=bool) is True
    box.setChecked(False)
    qtbot.waitUntil(lambda: "none of these" not in window.query.prediction.text(), timeout=10_000)
    assert window.query.prediction.text() == plain
    window.close()


@pytest.mark.parametrize("algorithm", ["anil", "matching"])
def test_other_learners_answer_none_of_these(qtbot, tmp_path, algorithm):
    """A gradient learner (features of the adapted network) and another metric learner."""
    torch.manual_seed(0)
    path = tmp_path / f"{algorithm}.pt"
    save_checkpoint(path, build_learner(algorithm, {}), {"split": "vinyals"})
    calibrate(path, 1e-6, algorithm)
    window = make_window(qtbot, path)
    window.query.openset_check.setChecked(True)
    teach(qtbot, window)
    draw_query(qtbot, window, [line((0.1, 0.9), (0.9, 0.1))])
    qtbot.waitUntil(lambda: "none of these" in window.query.prediction.text(), timeout=10_000)
    window.close()


def test_a_query_like_a_taught_class_is_accepted(qtbot, checkpoint):
    calibrate(checkpoint, 1e9)  # nothing is far enough: the normal answer
    window = make_window(qtbot, checkpoint)
    window.query.openset_check.setChecked(True)
    teach(qtbot, window)
    text = draw_query(qtbot, window, SHAPES["cross"])
    assert text.startswith("→ ") and "none of these" not in text
    assert window.results.latest.rejected is not None and not window.results.latest.rejected[0]
    window.close()


def test_switch_state_is_remembered(qtbot, checkpoint):
    calibrate(checkpoint, 0.5)
    window = make_window(qtbot, checkpoint)
    window.query.openset_check.setChecked(True)
    window.close()
    again = make_window(qtbot, checkpoint)
    assert again.query.openset_check.isChecked() and again.learner.open_set_active()
    again.close()


@pytest.mark.data
def test_shipped_protonet_rejects_an_untaught_omniglot_character(
    qtbot, omniglot_root, shipped_checkpoint, tmp_path
):
    """Three taught characters (5 drawings each, other people's): a 6th drawing of a taught one
    gets its class, a character never taught gets "none of these" (shipped calibration)."""
    if not calibration_path(shipped_checkpoint).is_file():
        pytest.skip("the shipped calibration file is absent")
    characters = extract_characters(omniglot_root, tmp_path, count=5, drawers=6)
    window = make_window(qtbot, shipped_checkpoint)
    window.query.openset_check.setChecked(True)
    for i, files in enumerate(characters[:3]):
        with qtbot.waitSignal(window.background.files_thread.finished_job, timeout=10_000):
            drop_files(window.teach.panel.rows[i], files[:5])
    answers = []
    for files in characters:
        with qtbot.waitSignal(window.background.files_thread.finished_job, timeout=10_000):
            drop_files(window.query.canvas, [files[5]])
        answers.append(shown(qtbot, window))
    names = window.session.names()
    for i in range(3):
        assert answers[i].startswith(f"→ {names[i]}  ("), answers
    for text in answers[3:]:
        assert text.startswith("→ none of these  (closest: "), answers
    window.close()


def test_map_caption_says_when_the_2d_view_disagrees_with_the_prediction(qtbot):
    import numpy as np

    from metagui.app.records import MapUpdate
    from metagui.ui.widgets.embedding_plot import EmbeddingPlot, disagreement

    found = MapUpdate(
        support=np.array([[0.0, 0.0], [10.0, 0.0]]),
        labels=np.array([0, 1]),
        centres=np.array([[0.0, 0.0], [10.0, 0.0]]),
        query=np.array([[1.0, 0.0]]),
        explained=np.array([0.6, 0.3]),
        names=("alpha", "lambda"),
    )
    assert disagreement(found, 0) == "" and disagreement(found, None) == ""
    assert "nearest to alpha" in disagreement(found, 1) and "(lambda)" in disagreement(found, 1)
    plot = EmbeddingPlot()
    qtbot.addWidget(plot)
    plot.show_map(found, 1)
    assert "nearest to alpha" in plot.getPlotItem().titleLabel.text
    plot.show_map(found, 0)
    assert "nearest to" not in plot.getPlotItem().titleLabel.text


def test_compare_mode_says_none_of_these_for_both_learners(qtbot, checkpoint, tmp_path):
    from metagui.ui.widgets.compare_panel import NONE_OF_THESE

    calibrate(checkpoint, 1e-6)
    torch.manual_seed(1)
    second = tmp_path / "matching-random.pt"
    save_checkpoint(second, build_learner("matching", {}), {"split": "vinyals"})
    calibrate(second, 1e-6, "matching")
    window = make_window(qtbot, checkpoint)
    window.query.openset_check.setChecked(True)
    panel = window.results.compare
    panel.add_checkpoint(second)
    window.results.setCurrentWidget(panel)
    with qtbot.waitSignal(window.second.loaded, timeout=10_000):
        panel.choice.setCurrentIndex(panel.index_of(second))
    teach(qtbot, window)
    draw_query(qtbot, window, [line((0.1, 0.9), (0.9, 0.1))])
    qtbot.waitUntil(lambda: panel.a.winner == NONE_OF_THESE == panel.b.winner, timeout=10_000)
    assert "none of these (closest: " in panel.b.result.text()
    assert panel.verdict.text() == "Both predict none of these."
    window.query.openset_check.setChecked(False)
    qtbot.waitUntil(lambda: panel.b.winner not in (None, NONE_OF_THESE), timeout=10_000)
    window.close()
