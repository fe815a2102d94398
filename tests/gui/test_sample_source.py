"""Sampling a task from another dataset than the checkpoint's own: the sample button's menu
offers every registered dataset whose files are under the data folder and whose images the
model takes."""

from __future__ import annotations

from gui_helpers import make_window

from core.algorithms import build_learner
from core.checkpoint import save_checkpoint
from core.data.splits import load_split
from metagui.app.tasks import character_label
from metagui.ui.widgets.controls import OWN_DATA


def _offered(window) -> dict:
    return {a.text(): a.data() for a in window.settings.sources.actions()}


def test_a_vinyals_model_samples_a_lake_task_when_asked(qtbot, monkeypatch, tiny_root, tmp_path):
    monkeypatch.setenv("METAGUI_DATA", str(tiny_root))
    checkpoint = tmp_path / "protonet-vinyals.pt"
    save_checkpoint(checkpoint, build_learner("protonet", {}), {"split": "vinyals"})
    window = make_window(qtbot, checkpoint)
    try:
        bar = window.settings
        offered = _offered(window)
        assert offered[OWN_DATA] is None and bar.source_choice() is None  # the default
        assert offered["Omniglot (lake)"] == ("omniglot", "lake")
        assert not any("MiniImageNet" in label for label in offered)  # no files here
        lake = next(a for a in bar.sources.actions() if a.text() == "Omniglot (lake)")
        lake.trigger()
        assert bar.source_choice() == ("omniglot", "lake")
        assert bar.sample.isEnabled() and "lake test classes" in bar.sample.toolTip()
        bar.ways.setValue(3)
        bar.shots.setValue(1)
        with qtbot.waitSignal(window.background.data_thread.finished_job, timeout=30_000):
            bar.sample.click()
        names = {character_label(n) for n in load_split(tiny_root, "lake", "test").names}
        assert len(window.session.classes) == 3 and set(window.session.names()) <= names
        assert all(n.startswith("Ev") for n in window.session.names())  # evaluation alphabets
        assert window.teaching.truth is not None  # the verdict still works
        bar.set_sources([("Omniglot (lake)", ("omniglot", "lake"))])  # another checkpoint
        assert bar.source_choice() == ("omniglot", "lake")  # the choice is kept
    finally:
        window.close()


def test_without_data_only_the_checkpoints_own_is_offered(qtbot, monkeypatch, tmp_path):
    monkeypatch.setenv("METAGUI_DATA", str(tmp_path / "nothing"))
    checkpoint = tmp_path / "protonet.pt"
    save_checkpoint(checkpoint, build_learner("protonet", {}), {"split": "vinyals"})
    window = make_window(qtbot, checkpoint)
    try:
        assert list(_offered(window)) == [OWN_DATA]
        assert not window.settings.sample.isEnabled()
    finally:
        window.close()


def test_a_dataset_folder_with_only_its_splits_is_not_offered(tmp_path):
    from core.data.spec import PreprocessSpec
    from metagui.app.tasks import TaskSource, missing_data, other_sources

    (tmp_path / "miniimagenet" / "splits" / "ravi").mkdir(parents=True)
    source = TaskSource("miniimagenet", "ravi", tmp_path, PreprocessSpec("rgb", 84))
    assert "miniimagenet data not found" in missing_data(source)
    assert other_sources(PreprocessSpec("rgb", 84), tmp_path) == []
    (tmp_path / "miniimagenet" / "images").mkdir()
    assert missing_data(source) is None
    assert [s.name for s in other_sources(PreprocessSpec("rgb", 84), tmp_path)] == ["miniimagenet"]
