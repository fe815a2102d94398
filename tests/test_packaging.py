"""The built wheel is an application: it carries the shipped checkpoints and works from anywhere.

The slow test builds the wheel from a copy of the source tree, installs it (no dependencies)
into a fresh venv outside the repo whose heavy dependencies (torch, Qt) come from this venv
through a ``.pth`` line (so nothing is downloaded), and runs it from another folder with no
``PYTHONPATH``: the shipped checkpoints are listed from the installed package, and
``core.predict`` classifies drawn shapes with a shipped checkpoint given by name; the window
(offscreen) opens on the shipped default and lists every shipped checkpoint.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

import core
from metagui.app.checkpoints import DEFAULT_CHECKPOINT

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted((ROOT / "assets" / "checkpoints").glob("*.pt"))
CALIBRATIONS = sorted((ROOT / "assets" / "checkpoints").glob("*.openset.json"))


def test_the_package_list_names_every_package_in_the_tree():
    tomllib = pytest.importorskip("tomllib")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for top in ("core", "metagui")
        for p in (ROOT / top).rglob("__init__.py")
    }
    assert set(config["packages"]) == on_disk | {"core.assets"}
    assert config["package-dir"] == {"core.assets": "assets"}


def test_another_core_on_the_path_is_said_in_one_line(tmp_path):
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "__init__.py").write_text("x = 1\n")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "core.py").write_text("x = 1\n")
    (tmp_path / "copy" / "core").mkdir(parents=True)  # another checkout of metagui: not foreign
    shutil.copy(ROOT / "core" / "__init__.py", tmp_path / "copy" / "core" / "__init__.py")
    paths = [str(ROOT), str(tmp_path / "copy"), str(tmp_path), str(tmp_path / "other")]
    assert core.other_cores(paths) == [tmp_path / "core", tmp_path / "other" / "core.py"]
    assert core.other_cores([str(ROOT), str(tmp_path / "copy")]) == []

    (tmp_path / "empty").mkdir()

    def run(*pythonpath):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, pythonpath))}
        return subprocess.run([sys.executable, "-c", "import metagui"], capture_output=True,
                              text=True, env=env, cwd=tmp_path / "empty", timeout=120)  # fmt: skip

    shadowing = run(ROOT, tmp_path)  # ours first: works, and says so
    assert shadowing.returncode == 0, shadowing.stderr
    (line,) = [x for x in shadowing.stderr.splitlines() if "CoreNameWarning" in x]
    assert str(tmp_path / "core") in line and "venv of its own" in line
    shadowed = run(tmp_path, ROOT)  # the other one first: metagui refuses in one line
    assert shadowed.returncode == 1
    assert shadowed.stderr.strip().splitlines()[-1].startswith("ImportError: the 'core' package")


def _shape(path: Path, points, shift: int) -> None:
    img = Image.new("L", (96, 96), 255)
    ImageDraw.Draw(img).line([(x + shift, y + shift) for x, y in points], fill=0, width=7)
    img.save(path)


SHAPES = {
    "zigzag": [(10, 80), (30, 15), (50, 80), (70, 15), (88, 80)],
    "hook": [(20, 10), (20, 70), (40, 88), (70, 70)],
    "cross": [(10, 10), (86, 86), (48, 48), (86, 10), (10, 86)],
}


def _can_build_wheels() -> bool:
    """This venv's setuptools builds wheels by itself (from 70.1) or with ``wheel`` installed."""
    try:
        version = metadata.version("setuptools")
    except metadata.PackageNotFoundError:
        return False
    major, minor = (int(x) for x in version.split(".")[:2])
    return (major, minor) >= (70, 1) or importlib.util.find_spec("wheel") is not None


WINDOW = """
import json, sys, time
from PySide6.QtWidgets import QApplication
from metagui.ui.main_window import MainWindow
app = QApplication(sys.argv[:1])
window = MainWindow()
window.show()
start = time.monotonic()
while window.checkpoint is None and time.monotonic() - start < 120:
    app.processEvents()
    time.sleep(0.02)
box = window.settings.checkpoint
listed = [box.itemText(i).split("  ·  ")[0] for i in range(box.count())]
print(json.dumps({"loaded": str(window.learner.path), "listed": listed}))
window.close()
"""


def test_the_wheel_installs_and_runs_from_another_folder(tmp_path):
    source = tmp_path / "source"  # a copy: the build writes build/ and *.egg-info beside it
    skip = shutil.ignore_patterns("__pycache__", "resumable", "*.egg-info", "build")
    for name in ("core", "metagui", "assets"):
        shutil.copytree(ROOT / name, source / name, ignore=skip)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    # offline with this venv's setuptools (the test extra), else as pip builds for a user
    here = ["--no-build-isolation", "--no-index"] if _can_build_wheels() else []
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", *here, "-q", "-w",
         str(tmp_path / "dist")],
        check=True, timeout=600, env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )  # fmt: skip
    (wheel,) = (tmp_path / "dist").glob("metagui-*.whl")
    assert wheel.name.startswith(f"metagui-{core.__version__}-")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        info = next(n for n in names if n.endswith(".dist-info/top_level.txt"))
        assert z.read(info).decode().split() == ["core", "metagui"]
    packed = {Path(n).name for n in names if n.startswith("core/assets/checkpoints/")}
    assert packed == {p.name for p in SHIPPED + CALIBRATIONS}
    assert not [n for n in names if "resumable" in n]

    env_dir = tmp_path / "venv"  # fresh, outside the repo; dependencies seen through a .pth
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    purelib = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    ours = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
    Path(purelib.stdout.strip(), "dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", "-q", str(wheel)],
        check=True, timeout=300, env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )  # fmt: skip

    elsewhere = tmp_path / "elsewhere"
    for name, points in SHAPES.items():
        (elsewhere / "support" / name).mkdir(parents=True)
        for shift in (0, 3):
            _shape(elsewhere / "support" / name / f"{shift}.png", points, shift)
        (elsewhere / "query").mkdir(exist_ok=True)
        _shape(elsewhere / "query" / f"{name}.png", points, -2)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "METAGUI_CHECKPOINTS")}

    def run(*args):
        done = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env,
                              cwd=elsewhere, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert run(env_dir / "bin" / "metagui", "--version").strip() == f"metagui {core.__version__}"
    listed = json.loads(run(python, "-c", (
        "import json, core, metagui\n"
        "from metagui.app.checkpoints import checkpoint_dir, shipped_checkpoints\n"
        "print(json.dumps([core.__file__, metagui.__file__, str(checkpoint_dir()),"
        " [p.name for p in shipped_checkpoints()]]))"
    )))  # fmt: skip
    site = Path(purelib.stdout.strip())
    assert [Path(p).parent.parent for p in listed[:2]] == [site, site]
    assert listed[2] == str(site / "core" / "assets" / "checkpoints")
    assert listed[3][0] == DEFAULT_CHECKPOINT  # the window's default first
    assert sorted(listed[3]) == [p.name for p in SHIPPED]

    # the window, offscreen, opens on the shipped default and lists every shipped checkpoint
    env.update(QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "config"))
    window = json.loads(run(python, "-c", WINDOW))
    assert window["loaded"] == str(site / "core" / "assets" / "checkpoints" / DEFAULT_CHECKPOINT)
    assert window["listed"] == [*listed[3], "Open…"]

    predict = ("-m", "core.predict", "--checkpoint", "protonet-omniglot", "--threads", "1")
    doc = json.loads(run(python, *predict, "--support", "support", "--query", "query", "--json"))
    assert Path(doc["checkpoint"]).parent == site / "core" / "assets" / "checkpoints"
    assert {Path(r["file"]).stem: r["label"] for r in doc["predictions"]} == {s: s for s in SHAPES}
