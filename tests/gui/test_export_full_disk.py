"""File ▸ Export onto a full disk: a message, the session and the old file kept (issue 36)."""

from __future__ import annotations

import errno

import pytest
from test_window import teach

import core.files


@pytest.mark.parametrize("suffix", [".pt", ".onnx"])
def test_export_onto_a_full_disk_says_so_and_keeps_the_window(
    qtbot, window, tmp_path, monkeypatch, suffix
):
    teach(qtbot, window)
    out = tmp_path / f"mine{suffix}"
    out.write_bytes(b"previous export")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(core.files.os, "fsync", full)
    names = window.session.names()
    with qtbot.waitSignal(window.background.failed, timeout=60_000):
        window.files.export_classifier(out)
    assert "Could not export" in window.banner.text() and "No space left" in window.banner.text()
    assert out.read_bytes() == b"previous export"
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == suffix or ".tmp" in p.name) == [
        out.name
    ]
    assert window.session.names() == names
