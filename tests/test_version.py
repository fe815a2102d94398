"""One version (``core.__version__``): the CLIs say it, every checkpoint and session file records
it, and the About text (no Qt) names it with the folders the app reads."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import pytest

import core
import metagui
from core.algorithms import build_learner
from core.checkpoint import load_checkpoint, save_checkpoint


@pytest.mark.parametrize("tool", ["metagui", "core.train", "core.evaluate", "core.predict"])
def test_version_flag(tool):
    done = subprocess.run([sys.executable, "-m", tool, "--version"], capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"metagui {core.__version__}" in done.stdout.strip().splitlines()[-1]
    assert metagui.__version__ == core.__version__


def test_every_checkpoint_records_the_version_that_wrote_it(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, build_learner("protonet"), {"split": "vinyals", "metagui_version": "0"})
    assert load_checkpoint(path).metadata["metagui_version"] == core.__version__


def test_every_session_file_records_the_version(tmp_path):
    from metagui.app import session_file
    from metagui.app.session import TaskClass

    path = tmp_path / "s.metagui"
    session_file.save(path, session_file.SavedSession([TaskClass("a", [])], None, None, None, None))
    with zipfile.ZipFile(path) as z:
        assert json.loads(z.read("manifest.json"))["metagui_version"] == core.__version__
    assert [c.name for c in session_file.load(path).classes] == ["a"]


def test_about_text_names_versions_device_and_folders(monkeypatch, tmp_path):
    from metagui.app import about

    monkeypatch.setenv("METAGUI_CHECKPOINTS", str(tmp_path / "ckpts"))
    monkeypatch.setenv("METAGUI_DATA", str(tmp_path / "data"))
    info = about.gather("6.9 (PySide6 6.9)", "cuda", tmp_path / "ckpts" / "x.pt")
    rows = dict(about.lines(info))
    assert rows["metagui"] == core.__version__
    assert rows["torch"] == __import__("torch").__version__
    assert rows["Qt"] == "6.9 (PySide6 6.9)" and rows["Device"] == "CUDA"
    assert rows["Checkpoint folder"] == str(tmp_path / "ckpts")
    assert rows["Data folder"].startswith(str(tmp_path / "data")) and "no Omniglot" in rows[
        "Data folder"
    ]
    assert "Warning" not in rows
    assert about.text(info).splitlines()[0] == f"metagui: {core.__version__}"
