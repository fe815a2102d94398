"""Start-up time of ``metagui``: first paint, and usable (the checkpoint loaded), from launch.

Each run starts ``metagui`` in a fresh process (offscreen Qt unless ``--display``) through a
small probe that times, from the moment the launcher spawned the process:

- ``first paint``: the main window's first paint event;
- ``usable``: the window holds a loaded checkpoint (drawings can be classified).

Compare two checkouts side by side in one run, alternating, so both see the same machine::

    python benchmarks/startup.py --runs 5
    git worktree add /tmp/old 8c43023
    python benchmarks/startup.py --runs 5 --vs /tmp/old

The first run of each side is reported apart ("first"): its files may not be in the page cache.
``--cold`` empties the page cache before every run (Linux, root: ``/proc/sys/vm/drop_caches``),
so every file is read from disk as on the first start after a reboot.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_PROBE = r"""
import json, os, sys, time
start = int(os.environ["STARTUP_T0"])
def now(): return (time.time_ns() - start) / 1e9
marks = {"python": now()}
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow

class Probe(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint and "first_paint" not in marks:
            marks["first_paint"] = now()
            marks["torch_loaded_at_first_paint"] = "torch" in sys.modules
        return False

probe = Probe()
original_show = QMainWindow.show

def show(window):
    marks["window_built"] = now()
    QApplication.instance().installEventFilter(probe)
    timer = QTimer(window)
    def poll():
        if getattr(window, "checkpoint", None) is not None and "first_paint" in marks:
            marks["usable"] = now()
            print("STARTUP " + json.dumps(marks), flush=True)
            os._exit(0)
        if now() > 120:
            print("STARTUP " + json.dumps(marks), flush=True)
            os._exit(1)
    timer.timeout.connect(poll)
    timer.start(5)
    return original_show(window)

QMainWindow.show = show
from metagui.__main__ import main
sys.exit(main(sys.argv[1:]))
"""


def drop_page_cache() -> None:
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError as exc:
        raise SystemExit(f"--cold needs root on Linux (/proc/sys/vm/drop_caches): {exc}") from None


def one_run(checkout: Path, extra: list[str], display: str | None, cold: bool) -> dict[str, float]:
    if cold:
        drop_page_cache()
    env = dict(os.environ)
    env["PYTHONPATH"] = str(checkout)
    env["METAGUI_CHECKPOINTS"] = env.get("METAGUI_CHECKPOINTS", str(REPO / "assets/checkpoints"))
    if display:
        env["DISPLAY"] = display
        env.pop("QT_QPA_PLATFORM", None)
    else:
        env["QT_QPA_PLATFORM"] = "offscreen"
    env["STARTUP_T0"] = str(time.time_ns())
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, *extra],
        env=env,
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=180,
    )
    for line in out.stdout.splitlines():
        if line.startswith("STARTUP "):
            return json.loads(line[len("STARTUP ") :])
    raise SystemExit(
        f"{checkout}: no start-up figures (exit {out.returncode}): {out.stderr[-400:]}"
    )


def summary(name: str, runs: list[dict[str, float]]) -> str:
    first, rest = runs[0], runs[1:] or runs
    parts = []
    for key in ("first_paint", "usable"):
        values = [r[key] for r in rest if key in r]
        med = statistics.median(values) if values else float("nan")
        first_value = first.get(key, float("nan"))
        parts.append(f"{key.replace('_', ' ')} {med:.2f} s (first run {first_value:.2f})")
    torch_first = sum(bool(r.get("torch_loaded_at_first_paint")) for r in runs)
    return (
        f"{name:<28} "
        + ", ".join(parts)
        + f"; torch loaded at first paint: {torch_first}/{len(runs)}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per checkout (default 5)")
    parser.add_argument("--vs", type=Path, help="another checkout to time side by side")
    parser.add_argument("--display", help="an X display (e.g. :99) instead of offscreen")
    parser.add_argument("--checkpoint", help="passed to metagui --checkpoint")
    parser.add_argument("--cold", action="store_true", help="empty the page cache before each run")
    args = parser.parse_args(argv)
    if not 1 <= args.runs <= 100:
        parser.error("--runs must be between 1 and 100")
    extra = ["--checkpoint", args.checkpoint] if args.checkpoint else []
    sides = {"this checkout": REPO}
    if args.vs is not None:
        sides[f"--vs {args.vs}"] = args.vs.resolve()
    results: dict[str, list[dict[str, float]]] = {name: [] for name in sides}
    for _ in range(args.runs):
        for name, checkout in sides.items():
            results[name].append(one_run(checkout, extra, args.display, args.cold))
    for name, runs in results.items():
        print(summary(name, runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
