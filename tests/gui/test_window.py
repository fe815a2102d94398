"""The window: teaching by drawing and dropping, live prediction, bad input, clean shutdown."""

from __future__ import annotations

import time

import pytest
import torch
from gui_helpers import draw, drop_files, extract_characters, line, make_window
from PIL import Image
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QComboBox,
    QLabel,
    QLineEdit,
    QListWidget,
    QSlider,
)

from core.algorithms import build_learner
from core.checkpoint import save_checkpoint
from core.data.splits import load_split
from metagui.app.records import MapUpdate
from metagui.app.tasks import character_label
from metagui.ui.widgets.canvas import DrawingCanvas
from metagui.ui.widgets.checkpoint_box import NAME_ROLE

SHAPES = {
    "bar": [line((0.2, 0.5), (0.8, 0.5))],
    "cross": [line((0.2, 0.2), (0.8, 0.8)), line((0.8, 0.2), (0.2, 0.8))],
    "corner": [line((0.2, 0.2), (0.2, 0.8)), line((0.2, 0.8), (0.8, 0.8))],
}


def teach(qtbot, window, per_class=1):
    for i, shape in enumerate(SHAPES.values()):
        for _ in range(per_class):
            for stroke in shape:
                draw(qtbot, window.teach.canvas, stroke)
            window.teach.add_drawing(i)


def adapted(qtbot, window, action, timeout=10_000):
    """Run ``action`` and wait for the adaptation it starts (signal opened before)."""
    with qtbot.waitSignal(
        window.learner.thread.finished_job,
        timeout=timeout,
        check_params_cb=lambda job, _r: job.kind == "adapt" and window.learner.is_current(job),
    ):
        action()


def test_starts_with_empty_classes_and_teaching_by_drawing_keeps_strokes(qtbot, window):
    assert window.session.names() == ("A", "B", "C")
    assert [len(c.examples) for c in window.session.classes] == [0, 0, 0]
    for stroke in SHAPES["cross"]:
        draw(qtbot, window.teach.canvas, stroke)
    strokes = window.teach.canvas.strokes()
    window.teach.add_drawing(1)
    example = window.session.classes[1].examples[0]
    assert example.drawing.strokes == strokes and example.source == "drawing"
    assert torch.equal(example.image, example.drawing.preprocess())
    assert window.teach.canvas.is_empty()
    assert window.teach.panel.rows[1].examples.count() == 1
    assert "“A”, “C” have no examples" in window.banner.text()  # a hint says what to do


def test_live_prediction_and_loss_curve(qtbot, window):
    adapted(qtbot, window, lambda: teach(qtbot, window, per_class=2))
    steps, losses = window.model.loss_plot.latest_data()
    assert list(steps) == list(range(window.settings.steps.value() + 1))
    assert len(losses) == len(steps)
    with qtbot.waitSignal(
        window.learner.thread.finished_job,
        timeout=10_000,
        check_params_cb=lambda job, _r: job.kind in ("adapt", "classify"),
    ) as blocker:
        for stroke in SHAPES["bar"]:
            draw(qtbot, window.query.canvas, stroke)
    assert blocker.args[0].kind == "classify"  # support unchanged: no re-adaptation
    qtbot.waitUntil(lambda: window.results.shown_query_version == window.teaching.query_version)
    assert abs(window.results.bars.probs.sum() - 1) < 1e-4
    assert window.results.bars.names == ("A", "B", "C")
    assert window.query.prediction.text().startswith("→")
    window.teaching.rename_class(0, "Bar")
    assert window.results.bars.names[0] == "Bar"


def test_removing_examples_and_classes(qtbot, window):
    teach(qtbot, window)
    window.teaching.add_class()
    assert window.session.names() == ("A", "B", "C", "D")
    window.teaching.remove_class(3)
    window.teaching.remove_example(2, 0)
    assert [len(c.examples) for c in window.session.classes] == [1, 1, 0]
    assert window.teach.panel.rows[2].examples.count() == 0
    assert "“C” has no examples" in window.banner.text()


def test_single_class_is_explained(qtbot, window):
    teach(qtbot, window)
    window.teaching.remove_class(2)
    window.teaching.remove_class(1)
    assert "two classes" in window.banner.text()
    assert len(window.session.classes[0].examples) == 1


def test_newest_request_wins_in_the_window(qtbot, window):
    teach(qtbot, window)
    window.settings.steps.setValue(200)
    window.setup._hyper.cancel()  # no debounced request of its own during the burst
    window.learner.set_overrides(*window.settings.overrides())
    cancelled = []
    window.learner.thread.cancelled.connect(lambda job: cancelled.append(job.id))
    finished = []
    window.learner.thread.finished_job.connect(lambda job, r: finished.append(job.id))
    jobs = []

    def burst():
        for _ in range(15):
            window.session._changed()  # as if the support changed each time
            jobs.append(window.query.request())

    adapted(qtbot, window, burst, timeout=30_000)
    qtbot.wait(50)
    assert jobs[-1].id in finished
    assert not set(finished) & {j.id for j in jobs[:-1]}
    assert set(cancelled) >= {j.id for j in jobs[:-1]}


def test_closing_mid_adaptation_stops_the_worker(qtbot, tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "maml.pt"
    save_checkpoint(path, build_learner("maml", {}), {"split": "vinyals"})
    window = make_window(qtbot, path)
    teach(qtbot, window, per_class=2)
    window.settings.steps.setValue(200)  # seconds of work: still running when closed
    finished = []
    window.learner.thread.finished_job.connect(lambda job, _r: finished.append(job.id))
    with qtbot.waitSignal(window.learner.stepped, timeout=10_000):
        window.setup._hyper_changed()
    job = window.learner.last_job
    assert job.kind == "adapt" and job.started_at and not job.ended_at
    assert window.learner.thread.isRunning() and window.learner.busy()
    start = time.perf_counter()
    window.close()
    assert time.perf_counter() - start < 2.0
    assert job.is_cancelled and job.id not in finished  # stopped between two steps
    assert not any(t.isRunning() for t in window.threads())


def test_bad_files_give_a_message_and_change_nothing(qtbot, window, tmp_path):
    teach(qtbot, window)
    before = (window.session.version, [len(c.examples) for c in window.session.classes])
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    corrupt = tmp_path / "broken.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    blank = tmp_path / "blank.png"
    Image.new("L", (50, 50), 255).save(blank)
    with qtbot.waitSignal(window.background.files_thread.finished_job, timeout=10_000):
        drop_files(window.teach.panel.rows[0], [text, corrupt, blank])
    assert (window.session.version, [len(c.examples) for c in window.session.classes]) == before
    message = window.banner.text()
    assert "3 file(s) skipped (nothing added)" in message
    assert "notes.txt" in message and "broken.png" in message and "blank" in message
    assert window.teach.canvas.is_empty() and window.query.canvas.is_empty()


def test_huge_image_is_refused(qtbot, window, tmp_path, monkeypatch):
    import core.data.preprocess as preprocess

    monkeypatch.setattr(preprocess, "MAX_PIXELS", 100 * 100)
    big = tmp_path / "huge.png"
    Image.new("L", (300, 300), 255).save(big)
    with qtbot.waitSignal(window.background.files_thread.finished_job, timeout=10_000):
        drop_files(window.teach.panel.rows[0], [big])
    assert "too large" in window.banner.text()
    assert not window.session.classes[0].examples


def test_diverging_adaptation_is_reported_and_nothing_is_lost(qtbot, window):
    adapted(qtbot, window, lambda: teach(qtbot, window, per_class=2))
    for stroke in SHAPES["bar"]:
        draw(qtbot, window.query.canvas, stroke)
    counts = [len(c.examples) for c in window.session.classes]
    with qtbot.waitSignal(
        window.learner.thread.failed,
        timeout=10_000,
        check_params_cb=lambda job, _m: window.learner.is_current(job),
    ) as blocker:
        window.settings.lr.setValue(1e6)
        window.settings.steps.setValue(50)
        window.query.request()
    assert "diverged" in blocker.args[1]
    assert "lower the learning rate" in window.banner.text()
    assert [len(c.examples) for c in window.session.classes] == counts
    assert window.query.canvas.strokes()
    adapted(qtbot, window, lambda: window.settings.lr.setValue(0.01))  # keeps working
    assert "diverged" not in window.banner.text()


def test_no_checkpoint_still_opens_and_says_so(qtbot):
    window = make_window(qtbot, None)
    assert "No checkpoint found" in window.banner.text()
    assert not window.settings.sample.isEnabled()
    teach(qtbot, window)  # teaching still works
    assert all(c.examples for c in window.session.classes)
    window.close()


def test_unloadable_checkpoint_keeps_the_current_one(qtbot, window, tmp_path):
    teach(qtbot, window)
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"definitely not a checkpoint")
    current = window.checkpoint
    with qtbot.waitSignal(window.learner.thread.failed, timeout=10_000):
        window.setup.load(bad)
    assert "Could not load the checkpoint broken.pt" in window.banner.text()
    assert "still using protonet-random.pt" in window.banner.text()
    assert window.checkpoint is current
    assert window.settings.checkpoint.currentData(NAME_ROLE) == "protonet-random.pt"
    assert all(c.examples for c in window.session.classes)


def test_shipped_checkpoints_are_listed(qtbot, monkeypatch, tmp_path, random_checkpoint):
    folder = tmp_path / "ckpts"
    folder.mkdir()
    for name in ("anil-omniglot.pt", "other-omniglot.pt"):
        (folder / name).write_bytes(random_checkpoint.read_bytes())
    monkeypatch.setenv("METAGUI_CHECKPOINTS", str(folder))
    from metagui.ui.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.checkpoint is not None, timeout=10_000)
    combo = window.settings.checkpoint
    names = [combo.itemData(i, NAME_ROLE) or combo.itemText(i) for i in range(combo.count())]
    assert names == ["anil-omniglot.pt", "other-omniglot.pt", "Open…"]
    assert window.learner.path.name == "anil-omniglot.pt"
    window.close()


def test_the_checkpoint_box_says_what_each_checkpoint_learned_on(
    qtbot, monkeypatch, tmp_path, random_checkpoint
):
    folder = tmp_path / "ckpts"
    folder.mkdir()
    (folder / "anil-omniglot.pt").write_bytes(random_checkpoint.read_bytes())
    torch.manual_seed(0)
    lake = {"split": "lake", "dataset": {"name": "omniglot", "split": "lake", "n_classes": 3052}}
    save_checkpoint(folder / "lake.pt", build_learner("protonet", {}), lake)
    (folder / "broken.pt").write_bytes(b"not a checkpoint")
    monkeypatch.setenv("METAGUI_CHECKPOINTS", str(folder))
    from metagui.ui.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    combo = window.settings.checkpoint
    qtbot.waitUntil(lambda: combo.trained_on(folder / "lake.pt") is not None, timeout=10_000)
    anil = combo.findData(str(folder / "anil-omniglot.pt"))
    assert combo.itemText(anil) == "anil-omniglot.pt  ·  Omniglot (Vinyals)"
    lake_item = combo.findData(str(folder / "lake.pt"))
    assert combo.itemText(lake_item) == "lake.pt  ·  Omniglot background"
    tip = combo.itemData(lake_item, Qt.ItemDataRole.ToolTipRole)
    assert "Meta-trained on omniglot, lake split (3,052 training classes)" in tip
    broken = combo.findData(str(folder / "broken.pt"))
    assert combo.itemText(broken) == "broken.pt"  # unreadable: no label, and no error yet
    assert "broken" not in window.banner.text()
    assert combo.currentData(NAME_ROLE) == "anil-omniglot.pt"  # what the closed box shows
    window.close()


def test_every_interactive_widget_is_named(qtbot, window):
    teach(qtbot, window)
    kinds = (
        QAbstractButton,
        QAbstractSpinBox,
        QComboBox,
        QLineEdit,
        QListWidget,
        QSlider,
        DrawingCanvas,
    )
    missing = []
    for kind in kinds:
        for widget in window.findChildren(kind):
            if isinstance(widget, QLineEdit) and isinstance(widget.parent(), QAbstractSpinBox):
                continue  # the spin box's own editor
            if (
                isinstance(widget, QAbstractButton)
                and not widget.objectName()
                and (widget.parent() is not None and widget.parent().inherits("QScrollBar"))
            ):
                continue
            if widget.objectName().startswith("qt_"):  # Qt's own (the menu bar's » button)
                continue
            if not widget.objectName() or not widget.accessibleName():
                missing.append(f"{type(widget).__name__} {widget.objectName()!r}")
    assert not missing, missing
    names = {w.objectName() for w in window.findChildren(QAbstractButton)}
    assert {"addClassButton", "addToClassButton", "classifyButton", "sampleTaskButton"} <= names


def test_sample_task_disabled_without_data(qtbot, monkeypatch, tmp_path, random_checkpoint):
    monkeypatch.setenv("METAGUI_DATA", str(tmp_path / "nothing"))
    window = make_window(qtbot, random_checkpoint)
    assert not window.settings.sample.isEnabled()
    assert "Omniglot data not found" in window.settings.sample.toolTip()
    window.close()


@pytest.mark.parametrize("split", ["vinyals", "lake"])
def test_sample_task_uses_test_classes_of_the_training_split(
    qtbot, monkeypatch, tiny_root, tmp_path, split
):
    """A Vinyals-trained model gets Vinyals test classes, a Lake-trained one evaluation ones."""
    monkeypatch.setenv("METAGUI_DATA", str(tiny_root))
    checkpoint = tmp_path / f"protonet-{split}.pt"
    save_checkpoint(checkpoint, build_learner("protonet", {}), {"split": split})
    window = make_window(qtbot, checkpoint)
    teach(qtbot, window)
    mine = [c.examples[0] for c in window.session.classes]
    assert window.settings.sample.isEnabled()
    window.settings.ways.setValue(4)
    window.settings.shots.setValue(2)
    with qtbot.waitSignal(window.background.data_thread.finished_job, timeout=30_000):
        window.settings.sample.click()
    assert len(window.session.classes) == 4
    assert all(len(c.examples) == 2 for c in window.session.classes)
    allowed = {character_label(n) for n in load_split(tiny_root, split, "test").names}
    assert set(window.session.names()) <= allowed
    if split == "lake":
        assert all(n.startswith("Ev") and "↻" not in n for n in window.session.names())
    assert window.teaching.truth is not None and window.query.canvas._image is not None
    qtbot.waitUntil(
        lambda: (
            "correct" in window.query.prediction.text() or "wrong" in window.query.prediction.text()
        ),
        timeout=10_000,
    )
    decodes = []
    window.background.decoding.connect(decodes.append)
    with qtbot.waitSignal(window.background.data_thread.finished_job, timeout=30_000):
        window.settings.sample.click()  # a second task: "My classes" are still the user's
    assert decodes == []  # the first task's decoded classes, handed to the worker, are reused
    window.teaching.restore_classes()
    assert [c.examples[0] for c in window.session.classes] == mine
    window.close()


@pytest.mark.data
def test_dropped_omniglot_images_are_classified_correctly(
    qtbot, omniglot_root, shipped_checkpoint, tmp_path
):
    characters = extract_characters(omniglot_root, tmp_path, count=5, drawers=6)
    window = make_window(qtbot, shipped_checkpoint)
    for _ in range(2):
        window.teaching.add_class()
    for i, files in enumerate(characters):
        with qtbot.waitSignal(window.background.files_thread.finished_job, timeout=10_000):
            drop_files(window.teach.panel.rows[i], files[:5])
    assert [len(c.examples) for c in window.session.classes] == [5] * 5
    assert window.session.classes[0].examples[0].source.endswith(".png")
    predicted = []
    for files in characters:
        version = window.teaching.query().version
        with qtbot.waitSignal(window.background.files_thread.finished_job, timeout=10_000):
            drop_files(window.query.canvas, [files[5]])
        assert window.teaching.query().version > version
        qtbot.waitUntil(
            lambda: window.results.shown_query_version == window.teaching.query().version
        )
        predicted.append(int(window.results.bars.probs.argmax()))
    assert predicted == [0, 1, 2, 3, 4]
    assert window.query.prediction.text().startswith("→ E")
    window.close()


@pytest.mark.parametrize("algorithm", ["matching", "relation", "maml"])
def test_every_learner_family_adapts_in_the_window(qtbot, tmp_path, algorithm):
    torch.manual_seed(0)
    path = tmp_path / f"{algorithm}.pt"
    save_checkpoint(path, build_learner(algorithm, {}), {"split": "vinyals"})
    window = make_window(qtbot, path)
    try:
        stepped = window.checkpoint.learner.capabilities.adapt_steps
        assert window.settings.steps.isEnabled() == stepped
        adapted(qtbot, window, lambda: teach(qtbot, window))
        assert window.banner.level != "error", window.banner.text()
        steps, _ = window.model.loss_plot.latest_data()
        assert len(steps) == (window.settings.steps.value() + 1 if stepped else 1)
        metric = algorithm != "maml"
        assert (window.model.currentWidget() is window.model.map_plot) == metric
        if metric:  # a map of the 3 examples, their centres, no query yet
            assert window.model.map_plot.current.support.shape == (3, 2)
            assert window.model.map_plot.current.centres.shape == (3, 2)
            assert window.model.map_plot.current.query is None
        else:
            assert window.model.map_plot.current is None
            assert "inner-loop loss" in window.model.map_plot._note.toPlainText()
    finally:
        window.close()


def test_embedding_map_follows_the_query_and_joins_it_to_the_predicted_class(qtbot, window):
    assert window.model.currentWidget() is window.model.map_plot  # ProtoNet: a metric learner
    adapted(qtbot, window, lambda: teach(qtbot, window, per_class=2))
    first = window.model.map_plot.current
    assert first.support.shape == (6, 2) and list(first.labels) == [0, 0, 1, 1, 2, 2]
    assert first.names == ("A", "B", "C") and first.query is None
    with qtbot.waitSignal(window.results.shown, timeout=10_000):
        for stroke in SHAPES["cross"]:
            draw(qtbot, window.query.canvas, stroke)
    qtbot.waitUntil(lambda: window.model.map_plot.current.query is not None)
    shown = window.model.map_plot.current
    assert shown.query.shape == (1, 2)
    assert torch.allclose(torch.from_numpy(shown.support), torch.from_numpy(first.support))
    assert window.model.map_plot.winner == int(window.results.bars.probs.argmax())
    link = window.model.map_plot._link.getData()
    assert list(link[0]) == [shown.query[0, 0], shown.centres[window.model.map_plot.winner, 0]]
    # the loss tab hides the map: predictions stop computing it
    window.model.setCurrentWidget(window.model.loss_plot)
    with qtbot.waitSignal(window.learner.thread.finished_job, timeout=10_000) as blocker:
        window.query.request()
    assert not isinstance(blocker.args[1], MapUpdate)  # no map computed
    window.query.clear_query()  # opening the map again maps the support without the query
    with qtbot.waitSignal(window.learner.thread.finished_job, timeout=10_000) as blocker:
        window.model.setCurrentWidget(window.model.map_plot)
    assert blocker.args[0].kind == "map"
    assert window.model.map_plot.current.query is None


def test_embedding_map_explains_a_missing_support_set(qtbot, window):
    window.query.request()  # nothing taught yet
    assert window.model.map_plot.current is None
    assert "No map yet" in window.model.map_plot._note.toPlainText()


def test_compare_mode_runs_two_learners_on_the_same_task(qtbot, window, tmp_path):
    torch.manual_seed(1)
    second = tmp_path / "matching-random.pt"
    save_checkpoint(second, build_learner("matching", {}), {"split": "vinyals"})
    panel = window.results.compare
    panel.add_checkpoint(second)
    window.results.setCurrentWidget(panel)
    with qtbot.waitSignal(window.second.loaded, timeout=10_000):
        panel.choice.setCurrentIndex(panel.index_of(second))
    with qtbot.waitSignal(window.second.predicted, timeout=10_000):
        teach(qtbot, window, per_class=2)
    for stroke in SHAPES["corner"]:
        draw(qtbot, window.query.canvas, stroke)
    qtbot.waitUntil(lambda: panel.a.winner is not None and panel.b.winner is not None)
    assert panel.a.title.text().startswith("A: protonet")
    assert panel.b.title.text() == "B: matching · matching-random.pt"
    assert panel.a.winner == int(window.results.bars.probs.argmax())  # A is the main learner
    assert panel.b.bars.names == ("A", "B", "C")
    assert abs(panel.b.bars.probs.sum() - 1) < 1e-4
    assert " ms" in panel.b.result.text() and panel.verdict.text()
    # a broken second checkpoint: said in column B, the previous one stays, A keeps working
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    panel.add_checkpoint(broken)
    with qtbot.waitSignal(window.second.problem, timeout=10_000):
        panel.choice.setCurrentIndex(panel.index_of(broken))
    assert "B failed: could not load broken.pt" in panel.b.result.text()
    assert "still comparing with matching-random.pt" in panel.b.result.text()
    assert panel.path() == second and window.second.path == second
    assert window.checkpoint is not None and window.banner.level != "error"


def test_showing_the_compare_tab_keeps_the_canvases_size(qtbot, window):
    window.resize(1400, 900)
    qtbot.wait(50)
    before = window.teach.canvas.height(), window.query.canvas.height()
    window.results.setCurrentWidget(window.results.compare)
    qtbot.wait(50)
    assert (window.teach.canvas.height(), window.query.canvas.height()) == before
    assert window.results.compare.a.title.text() == "A: protonet · protonet-random.pt"
    window.results.compare.b.show_text("a long message " * 20)  # wraps over many lines
    qtbot.wait(50)
    assert (window.teach.canvas.height(), window.query.canvas.height()) == before


def test_clicking_anywhere_in_a_class_row_selects_it(qtbot, window):
    for index in (1, 2, 0):  # the thumbnail area is empty: a press there still selects the row
        viewport = window.teach.panel.rows[index].examples.viewport()
        qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=QPoint(10, 10))
        assert window.teach.panel.selected == index
    window.teach.panel.rows[2].name.setFocus()
    qtbot.waitUntil(lambda: window.teach.panel.selected == 2)


def test_first_decoding_shows_a_determinate_bar(qtbot, monkeypatch, tiny_root, tmp_path):
    """The child process reports images decoded per Omniglot set; the status bar shows them."""
    monkeypatch.setenv("METAGUI_DATA", str(tiny_root))
    monkeypatch.setenv("METAGUI_CACHE", str(tmp_path / "cache"))  # nothing decoded yet
    checkpoint = tmp_path / "protonet.pt"
    save_checkpoint(checkpoint, build_learner("protonet", {}), {"split": "vinyals"})
    window = make_window(qtbot, checkpoint)
    seen = []

    def record(decoding):  # runs after the window's own slot
        window.setup.update_sample_button()  # e.g. a checkpoint loaded meanwhile: still disabled
        bar = window.status.progress
        seen.append(
            (decoding, bar.maximum(), bar.value(), bar.format(), window.settings.sample.isEnabled())
        )

    window.background.decoding.connect(record)
    with qtbot.waitSignal(window.background.sampled, timeout=60_000):
        window.setup.sample_task()
    per_set = 3 * 6 * 20  # tiny_root: alphabets x characters x drawers per set
    shown = [s for s in seen if s[0].total]
    assert {s[0].source for s in shown} == {"background", "evaluation"}  # Vinyals: both sets
    for decoding, maximum, value, text, _ in shown:
        assert decoding.total == per_set and maximum == per_set and value == decoding.done
        assert (
            text == f"decoding Omniglot {decoding.source}: {decoding.done:,} / {per_set:,} images"
        )
    assert any(s[0].done == per_set for s in shown)
    assert not any(enabled for *_, enabled in seen)  # no second request while decoding
    assert window.settings.sample.isEnabled() and not window.status.progress.isVisible()
    window.close()


def test_closing_while_the_data_loads_returns_at_once(qtbot, monkeypatch, tiny_root, tmp_path):
    monkeypatch.setenv("METAGUI_DATA", str(tiny_root))
    checkpoint = tmp_path / "protonet.pt"
    save_checkpoint(checkpoint, build_learner("protonet", {}), {"split": "vinyals"})
    window = make_window(qtbot, checkpoint)
    job = window.setup.sample_task()
    assert not window.settings.sample.isEnabled()  # cannot be asked twice
    assert window.status.progress.isVisible()
    qtbot.waitUntil(lambda: job.started_at > 0, timeout=5_000)
    start = time.perf_counter()
    window.close()
    assert time.perf_counter() - start < 1.0
    assert job.is_cancelled
    assert not any(t.isRunning() for t in window.threads())


def test_the_window_fits_a_1280_pixel_wide_screen(window):
    """A 1280 px laptop screen: the settings bar once needed 1,288 px, so the window's 1,300 px
    minimum overlapped the checkpoint list and "Device" when squeezed."""
    assert window.minimumSizeHint().width() <= 1270
    check = window.query.openset_check  # its label was clipped to "None of thes" there
    assert check.minimumWidth() >= check.sizeHint().width()


def test_a_long_status_message_is_cut_not_widening_the_window(qtbot, window):
    """A plain label's minimum width is its whole text: a long message once widened the window
    past the screen or was cut mid-word. Now it ends in "…" and the tooltip holds it all."""
    width = window.minimumSizeHint().width()
    text = "Added 1 image(s) to “" + "a class with a very long name " * 12 + "”"
    window.status.message.setText(text)
    qtbot.waitUntil(lambda: window.status.message.toolTip() == text, timeout=2_000)
    assert window.minimumSizeHint().width() == width
    shown = QLabel.text(window.status.message)
    assert shown.endswith("…") and len(shown) < len(text)
    assert window.status.message.text() == text  # code reading it gets the whole message
    window.status.message.setText("Saved a.session")
    assert window.status.message.toolTip() == ""


def test_compare_mode_puts_a_gradient_learner_beside_a_metric_one(
    qtbot, monkeypatch, tmp_path, random_checkpoint
):
    folder = tmp_path / "shipped"
    folder.mkdir()
    torch.manual_seed(2)
    save_checkpoint(folder / "anil-omniglot.pt", build_learner("anil", {}), {"split": "vinyals"})
    monkeypatch.setenv("METAGUI_CHECKPOINTS", str(folder))
    window = make_window(qtbot, random_checkpoint)  # ProtoNet: no inner-loop steps
    results, panel = window.results, window.results.compare
    with qtbot.waitSignal(window.second.loaded, timeout=10_000):
        results.setCurrentWidget(panel)  # one click: ANIL comes as learner B
    assert panel.path() == folder / "anil-omniglot.pt"
    def curve(steps, _losses, _name):
        return bool(steps)

    with qtbot.waitSignal(results.compareCurve, timeout=10_000, check_params_cb=curve):
        teach(qtbot, window, per_class=2)
        for stroke in SHAPES["corner"]:
            draw(qtbot, window.query.canvas, stroke)
    # chosen away once, it stays away
    panel.choice.setCurrentIndex(0)
    results.setCurrentWidget(results.bars)
    results.setCurrentWidget(panel)
    assert panel.path() is None and not window.second.load_requested()
    window.close()


def test_compare_mode_adds_no_partner_to_a_gradient_learner(qtbot, monkeypatch, tmp_path):
    folder = tmp_path / "shipped"
    folder.mkdir()
    torch.manual_seed(2)
    for name in ("anil-omniglot.pt", "maml-random.pt"):
        save_checkpoint(folder / name, build_learner("anil", {}), {"split": "vinyals"})
    monkeypatch.setenv("METAGUI_CHECKPOINTS", str(folder))
    window = make_window(qtbot, folder / "maml-random.pt")
    window.results.setCurrentWidget(window.results.compare)
    qtbot.wait(200)
    assert window.results.compare.path() is None and not window.second.load_requested()
    window.close()
