"""Hostile ``.metagui`` session files: refused in one line, fast, before anything is used
(the loader is Qt-free; the window shows its message and keeps the session)."""

from __future__ import annotations

import functools
import io
import json
import os
import struct
import subprocess
import sys
import zipfile
import zlib

import pytest
from PIL import Image

from metagui.app import session_file
from metagui.app.session_file import SessionFileError

DRAWING = {"drawing": {"width": 0.05, "strokes": [[[0.1, 0.1], [0.9, 0.9]]]}}


def _manifest(**extra) -> bytes:
    doc = {"format": "metagui-session", "version": 1, "classes": [], "query": None}
    doc.update(extra)
    return json.dumps(doc).encode()


def _zip(path, members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("1", (width, height), 1).save(buffer, format="PNG")
    return buffer.getvalue()


def _png_claiming(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 9)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


def _image_class(name: str, count: int) -> dict:
    return {"name": name, "examples": [{"image": f"images/{i}.png"} for i in range(count)]}


@functools.cache
def _cases():
    one_image = [_image_class("x", 1)]
    return {
        "bomb-pixels": ({"images/0.png": _png(20000, 20000)}, {"classes": one_image}, "too large"),
        "bomb-header": (
            {"images/0.png": _png_claiming(100000, 100000)}, {"classes": one_image}, "too large"
        ),
        "steps-infinity": ({}, {"steps": float("inf")}, "out of bounds"),
        "steps-1e30": ({}, {"steps": 1e30}, "out of bounds"),
        "lr-nan": ({}, {"lr": float("nan")}, "out of bounds"),
        "lr-infinity": ({}, {"lr": float("inf")}, "out of bounds"),
        "width-infinity": (
            {}, {"classes": [{"name": "x", "examples": [
                {"drawing": {"width": float("inf"), "strokes": [[[0.1, 0.1]]]}}]}]},
            "out of bounds",
        ),
        "width-1e6": (
            {}, {"classes": [{"name": "x", "examples": [
                {"drawing": {"width": 1e6, "strokes": [[[0.1, 0.1]]]}}]}]},
            "out of bounds",
        ),
        "empty-classes": ({}, {"classes": [{"name": str(i), "examples": []}
                                           for i in range(100_000)]}, "classes"),
        "classes-one-drawing": ({}, {"classes": [{"name": str(i), "examples": [DRAWING]}
                                                 for i in range(100_000)]}, "classes"),
        "long-stroke": (
            {}, {"classes": [{"name": "x", "examples": [
                {"drawing": {"width": 0.05, "strokes": [[[0.5, 0.5]] * 1_000_000]}}]}]},
            "points",
        ),
        "long-name": ({}, {"classes": [{"name": "n" * 1_000_000, "examples": []}]}, "name"),
        "many-large-images": (
            dict.fromkeys((f"images/{i}.png" for i in range(60)), _png(3000, 3000)),
            {"classes": [_image_class("x", 60)]},
            "too large",
        ),
    }  # fmt: skip


@pytest.mark.parametrize("kind", list(_cases()))
def test_hostile_manifests_and_members_are_refused_in_one_line(kind, tmp_path):
    members, manifest, expected = _cases()[kind]
    text = _manifest(**manifest)
    path = _zip(tmp_path / f"{kind}.metagui", {"manifest.json": text, **members})
    with pytest.raises(SessionFileError) as info:
        session_file.load(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{kind}.metagui: ")
    assert expected is None or expected in message, message


def test_a_deeply_nested_manifest_is_refused(tmp_path):
    text = b'{"format": "metagui-session", "version": 1, "x": ' + b"[" * 100_000 + b"]" * 100_000
    path = _zip(tmp_path / "deep.metagui", {"manifest.json": text + b"}"})
    with pytest.raises(SessionFileError, match=r"nested too deeply|damaged"):
        session_file.load(path)


def test_encrypted_and_unsupported_members_are_refused(tmp_path):
    path = _zip(tmp_path / "bz.metagui", {"manifest.json": _manifest()}, zipfile.ZIP_BZIP2)
    with pytest.raises(SessionFileError, match="unsupported compression"):
        session_file.load(path)
    plain = _zip(tmp_path / "enc.metagui", {"manifest.json": _manifest()}, zipfile.ZIP_STORED)
    raw = bytearray(plain.read_bytes())
    for sig in (b"PK\x03\x04", b"PK\x01\x02"):  # set the "encrypted" flag in both headers
        at = raw.index(sig)
        offset = at + (6 if sig == b"PK\x03\x04" else 8)
        raw[offset] |= 0x1
    plain.write_bytes(bytes(raw))
    with pytest.raises(SessionFileError, match="encrypted"):
        session_file.load(plain)


def test_a_failed_save_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "s.metagui"
    path.write_bytes(b"the old session")
    code = (
        "import resource, signal\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000))\n"
        "from metagui.app import session_file\n"
        "from metagui.app.session import TaskClass\n"
        "import secrets\n"
        "classes = [TaskClass(secrets.token_hex(50), []) for i in range(100)]\n"
        "saved = session_file.SavedSession(classes, None, None, None, None)\n"
        "try:\n"
        f"    session_file.save({str(path)!r}, saved)\n"
        "except OSError as exc:\n"
        "    print('OSError')\n"
    )
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.stdout.strip() == "OSError", done.stderr
    assert path.read_bytes() == b"the old session"
    assert [p.name for p in tmp_path.iterdir()] == ["s.metagui"]
