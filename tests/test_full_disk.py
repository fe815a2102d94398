"""A full disk while writing: one line, the previous file untouched, no partial or temporary file.

The disk is made "full" for a child process with RLIMIT_FSIZE (writes past the limit fail with
EFBIG, as they fail with ENOSPC on a full file system) so that native writers meet it too.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from test_cli import TINY_TRAIN

CHECKPOINT = str(Path("assets/checkpoints/protonet-omniglot.pt").resolve())
LIMIT = 64_000  # bytes: smaller than any checkpoint or exported model


def _with_full_disk(code: str, limit: int = LIMIT) -> subprocess.CompletedProcess:
    script = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))\n" + code
    )
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600
    )


def _support(root: Path) -> Path:
    for name, box in (("bar", (20, 45, 85, 60)), ("block", (35, 20, 70, 85))):
        (root / "support" / name).mkdir(parents=True)
        for i in range(2):
            img = Image.new("L", (105, 105), 255)
            ImageDraw.Draw(img).rectangle((box[0] + 3 * i, *box[1:]), fill=0)
            img.save(root / "support" / name / f"{i}.png")
    return root / "support"


@pytest.mark.parametrize("suffix", [".pt", ".onnx"])
def test_export_to_a_full_disk_says_so_and_keeps_the_old_file(suffix, tmp_path):
    out = tmp_path / "out" / f"m{suffix}"
    out.parent.mkdir()
    out.write_bytes(b"previous export")
    args = ["--checkpoint", CHECKPOINT, "--support", str(_support(tmp_path)), "--out", str(out)]
    done = _with_full_disk(
        f"from core import export\nsys.exit(export.main({[*args, '--threads', '1']!r}))"
    )
    assert done.returncode == 2, done.stderr
    err = done.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"error: cannot write {out}"), err
    assert out.read_bytes() == b"previous export"
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]


def test_a_checkpoint_save_on_a_full_disk_leaves_the_old_one(tmp_path):
    path = tmp_path / "last.pt"
    path.write_bytes(b"the old checkpoint")
    done = _with_full_disk(
        "from core.algorithms import build_learner\n"
        "from core.checkpoint import save_checkpoint\n"
        "try:\n"
        f"    save_checkpoint({str(path)!r}, build_learner('protonet', {{}}), {{}})\n"
        "except OSError as exc:\n"
        "    print(type(exc).__name__)\n"
    )
    assert done.stdout.strip() == "OSError", done.stderr
    assert path.read_bytes() == b"the old checkpoint"
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_text_files_are_written_whole_or_not_at_all(tmp_path):
    """config.json, checkpoint companions, open-set calibrations: all through core.files."""
    path = tmp_path / "config.json"
    path.write_text("{}")
    done = _with_full_disk(
        f"from core.files import write_text\nwrite_text({str(path)!r}, 'x' * {2 * LIMIT})\n"
    )
    assert done.returncode == 1 and "OSError" in done.stderr
    assert path.read_text() == "{}" and [p.name for p in tmp_path.iterdir()] == ["config.json"]


def test_training_on_a_full_disk_stops_in_one_line(tiny_root, tmp_path):
    out = tmp_path / "run"
    args = ["--episodes", "4", "--data-root", str(tiny_root), "--out", str(out), *TINY_TRAIN]
    done = _with_full_disk(f"from core import train\nsys.exit(train.main({args!r}))", 200_000)
    err = done.stderr.strip().splitlines()
    assert done.returncode == 1, done.stderr
    assert err[-1].startswith("error: cannot write") and "Traceback" not in done.stderr, err
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
    assert not (out / "last.pt").exists()  # never a partial checkpoint


def test_a_decoded_data_cache_on_a_full_disk_leaves_nothing_behind(tiny_root, tmp_path):
    """A read-only or full cache only costs speed: the data loads, no temporary is left."""
    cache = tmp_path / "cache"
    done = _with_full_disk(
        "from pathlib import Path\n"
        "from core.data.omniglot import load_omniglot_set\n"
        f"s = load_omniglot_set(Path({str(tiny_root)!r}), 'background', 28, Path({str(cache)!r}))\n"
        "print(len(s.characters))\n",
        limit=2000,
    )
    assert done.returncode == 0 and int(done.stdout) > 0, done.stderr
    assert not [p.name for p in cache.iterdir() if ".tmp" in p.name]
