"""GUI responsiveness of the metagui window (5-way 5-shot drawn support set).

Measures, in the real window with simulated mouse strokes:

1. query pen-up -> probability bars updated (the user lifts the pen after a query stroke);
2. "Add to class" -> bars updated after a full re-adaptation (support changed, all steps);
3. the longest stall of the GUI thread while adaptations run back to back, from a QTimer
   heartbeat (interval 2 ms): the largest gap between two ticks minus the interval, compared
   with the same heartbeat while the window is idle (the machine's own scheduling noise).

``--checkpoint`` defaults to the window's default (``metagui.app.checkpoints.DEFAULT_CHECKPOINT``).
``--view map`` (the embedding map on screen, recomputed with every prediction: the window's
choice for metric learners) or ``--view loss`` (the inner-loop loss tab); default: the window's.

Targets (issues 3, 13): pen-up -> bars p95 <= 50 ms; longest GUI stall while adapting <= 16 ms.

``--while-training`` first starts a run of the *Learn to learn* tab (its default recipe, from
its own panel, so its records reach the window as in use) and measures everything while it
trains; then it times *Try it now* (click -> the Teach tab's learner holds the new weights)
``--handovers`` times, and the run's episodes per second with the window idle and while the
adaptations churn. Targets with training running (issue 32): pen-up -> bars p95 <= 100 ms,
longest stall <= 30 ms, handover <= 1 s.

    QT_QPA_PLATFORM=offscreen python benchmarks/gui_latency.py [--checkpoint P] [--trials 100]
    METAGUI_DATA=../shared/data QT_QPA_PLATFORM=offscreen python benchmarks/gui_latency.py \\
        --while-training [--handovers 5]
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import torch
from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from metagui.app.checkpoints import shipped_checkpoints
from metagui.app.session import Drawing, Example
from metagui.control.metatrain import MetaTrainer
from metagui.control.runtime import SWITCH_INTERVAL, freeze_startup_objects, tune_process
from metagui.ui.learn_panel import LearnPanel
from metagui.ui.main_window import MainWindow
from metagui.ui.model_panel import ModelPanel
from metagui.ui.results_panel import ResultsPanel
from metagui.ui.status_panel import StatusPanel

WAYS, SHOTS = 5, 5


def glyph(rng: np.random.Generator, shape: np.ndarray) -> Drawing:
    """A jittered copy of a random 3-segment 'character' (unit square)."""
    pts = shape + rng.normal(0, 0.02, size=shape.shape)
    stroke = []
    for a, b in itertools.pairwise(pts):
        stroke += [tuple(a + (b - a) * t) for t in np.linspace(0, 1, 8)]
    return Drawing((tuple(stroke),), 5 / 105)


class Bench:
    def __init__(self, app: QApplication, window: MainWindow) -> None:
        self.app, self.w = app, window
        self.phases: list[tuple[float, float, float, float]] = []
        self.first_record: dict[int, object] = {}  # job id -> its first record
        window.learner.thread.yielded.connect(
            lambda job, record: self.first_record.setdefault(job.id, record)
        )

    def wait_until(self, cond, timeout: float = 30.0) -> None:
        end = time.perf_counter() + timeout
        while not cond():
            if time.perf_counter() > end:
                raise TimeoutError("the window did not update in time")
            self.app.processEvents()
            time.sleep(0.0005)

    def idle(self) -> None:
        self.wait_until(lambda: not self.w.learner.thread.busy())
        for _ in range(5):
            self.app.processEvents()

    def query_stroke(self, rng: np.random.Generator) -> float:
        """Draw one query stroke; return seconds from pen-up to updated bars."""
        canvas = self.w.query.canvas
        sq = canvas.square()
        pts = rng.uniform(0.2, 0.8, size=(6, 2))

        def at(p):
            return QPoint(int(sq.left() + p[0] * sq.width()), int(sq.top() + p[1] * sq.height()))

        QTest.mousePress(
            canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at(pts[0])
        )
        for p in pts[1:]:
            QTest.mouseMove(canvas, at(p))
        self.w.query._live.cancel()  # strokes here take microseconds; no live update mid-stroke
        self.idle()
        start = time.perf_counter()
        QTest.mouseRelease(
            canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at(pts[-1])
        )
        version = self.w.teaching.query_version
        self.wait_until(lambda: self.w.results.shown_query_version >= version)
        end = time.perf_counter()
        job = self.w.learner.last_job
        self.wait_until(lambda: job.id in self.first_record)  # our slot runs after the window's
        worker = self.first_record[job.id].elapsed  # preprocess + classify, in the worker
        self.phases.append(
            (
                job.submitted_at - start,
                job.started_at - job.submitted_at,
                worker,
                end - job.started_at - worker,
            )
        )
        return end - start

    def add_example(self, drawing: Drawing, index: int) -> float:
        """ "Add to class" with a query present; return seconds to bars after re-adaptation."""
        self.idle()
        self.w.teach.canvas.set_drawing(drawing)
        seen = self.w.results.shown_query_version
        adapted = self.w.learner._cache
        start = time.perf_counter()
        self.w.teach.add_drawing(index)
        self.wait_until(
            lambda: (
                self.w.learner._cache is not adapted
                and self.w.learner._cache is not None
                and self.w.results.shown_query_version >= seen
                and not self.w.model._throttle.pending()
                and not self.w.results._throttle.pending()
            )
        )
        return time.perf_counter() - start

    def heartbeat(self, seconds: float, work=None, interval_ms: int = 2) -> np.ndarray:
        """Gaps (s) between QTimer ticks while ``work()`` keeps being called when idle."""
        ticks: list[float] = []
        timer = QTimer()
        timer.setTimerType(Qt.TimerType.PreciseTimer)
        timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
        timer.start(interval_ms)
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            if work is not None and not self.w.learner.thread.busy():
                work()
            self.app.processEvents()
            time.sleep(0.0002)
        timer.stop()
        return np.diff(ticks) - interval_ms / 1000.0


class Training:
    """A *Learn to learn* run of the window's default recipe, started from its panel."""

    def __init__(self, bench: Bench, folder: Path) -> None:
        os.environ["METAGUI_RUNS"] = str(folder)
        self.bench, self.w = bench, bench.w
        self.steps: list[tuple[float, float]] = []  # (wall time, episodes/s)
        self.saved: list[float] = []  # wall time of each "saved" (why "now") record
        self.loaded: list[tuple[float, Path]] = []
        self.w.metatrain.stepped.connect(
            lambda s: self.steps.append((time.perf_counter(), s.episodes_per_s))
        )
        self.w.metatrain.saved.connect(
            lambda s: s.why == "now" and self.saved.append(time.perf_counter())
        )
        self.w.learner.loaded.connect(lambda r: self.loaded.append((time.perf_counter(), r.path)))
        self.w.metatrain.failed.connect(lambda text: sys.exit(f"the training run failed: {text}"))

    def start(self) -> None:
        self.w.learn.setup.minutes.setValue(30)  # ended by stop()
        self.w.learn.start()
        self.w.tabs.setCurrentIndex(0)  # the audience draws in the Teach tab meanwhile
        self.bench.wait_until(lambda: len(self.steps) >= 5, timeout=300)

    def rate(self, since: float, until: float) -> float:
        """Median episodes per second reported between two wall times."""
        rates = [r for t, r in self.steps if since <= t <= until]
        return statistics.median(rates) if rates else math.nan

    def handover(self) -> tuple[float, float]:
        """Click *Try it now*; seconds to the run's "saved" and to the Teach tab's learner
        holding those weights (and the Teach tab in front)."""
        self.bench.idle()
        self.w.tabs.setCurrentIndex(1)
        saved, loaded = len(self.saved), len(self.loaded)
        start = time.perf_counter()
        self.w.learn.buttons.try_now.click()
        self.bench.wait_until(
            lambda: (
                len(self.loaded) > loaded
                and self.loaded[-1][1].name.startswith("now-")
                and self.w.tabs.currentIndex() == 0
            )
        )
        end = time.perf_counter()
        return self.saved[saved] - start, end - start

    def stop(self) -> None:
        self.w.metatrain.stop(timeout_ms=2000)


#: the panels' slots that run on the GUI thread for every record of an adaptation
GUI_SLOTS = (
    (ModelPanel, ("_stepped", "_adapted", "_draw_loss")),
    (ResultsPanel, ("_predicted", "refresh")),
    (StatusPanel, ("_stepped", "_adapted")),
    # a Learn-to-learn run's records (--while-training)
    (MetaTrainer, ("_read_stdout",)),
    (LearnPanel, ("_redraw", "_evaluated", "_thumbnails")),
)


def time_gui_slots() -> tuple[list[float], dict[str, list[float]]]:
    """Wrap the panels' record slots (class attributes, so the window binds the wrappers):
    wall time of every call, and CPU time per slot."""
    times: list[float] = []
    cpu: dict[str, list[float]] = {}
    for cls, names in GUI_SLOTS:
        for name in names:
            original = getattr(cls, name)
            label = f"{cls.__name__}.{name}"

            def timed(self, *a, _original=original, _label=label):
                t0, c0 = time.perf_counter(), time.thread_time()
                _original(self, *a)
                times.append(time.perf_counter() - t0)
                cpu.setdefault(_label, []).append(time.thread_time() - c0)

            setattr(cls, name, timed)
    return times, cpu


def pct(values, q) -> float:
    return float(np.percentile(np.asarray(values) * 1000, q))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--steps", type=int, default=10, help="adaptation steps (GUI default)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=10.0, help="heartbeat duration")
    parser.add_argument(
        "--view",
        choices=("map", "loss"),
        default=None,
        help="tab on screen (default: the window's)",
    )
    parser.add_argument(
        "--switch-interval",
        type=float,
        default=SWITCH_INTERVAL,
        help="GIL switch interval in seconds (the app's default; CPython's own: 0.005)",
    )
    parser.add_argument(
        "--while-training",
        action="store_true",
        help="measure while a Learn-to-learn run trains (its default recipe; needs METAGUI_DATA)",
    )
    parser.add_argument("--handovers", type=int, default=5, help="Try-it-now timings")
    parser.add_argument(
        "--no-freeze", action="store_true", help="do not gc.freeze() after start-up (the app does)"
    )
    args = parser.parse_args()
    tune_process(args.switch_interval)  # as metagui's main does
    torch.set_num_threads(args.threads)
    checkpoint = args.checkpoint or next(iter(shipped_checkpoints()), None)
    if checkpoint is None:
        print("no checkpoint: pass --checkpoint or ship assets/checkpoints/*.pt", file=sys.stderr)
        return 2

    app = QApplication.instance() or QApplication([])
    slot_times, slot_cpu = time_gui_slots()  # before the window binds them
    w = MainWindow(checkpoint=checkpoint, class_names=[f"C{i}" for i in range(WAYS)])
    w.show()
    bench = Bench(app, w)
    bench.wait_until(lambda: w.checkpoint is not None)
    if not args.no_freeze:
        freeze_startup_objects()
    w.files.ask_before_discard = False
    w.settings.steps.setValue(args.steps)
    if args.view is not None:
        w.model.setCurrentWidget(w.model.map_plot if args.view == "map" else w.model.loss_plot)
    view = "map" if w.model.currentWidget() is w.model.map_plot else "loss"
    w.setup._hyper.cancel()
    w.learner.set_overrides(*w.settings.overrides())
    rng = np.random.default_rng(0)
    shapes = [rng.uniform(0.15, 0.85, size=(4, 2)) for _ in range(WAYS)]
    for c in range(WAYS):
        w.session.add_examples(
            c,
            [
                Example(d.preprocess(), "drawing", d)
                for d in (glyph(rng, shapes[c]) for _ in range(SHOTS - 1))
            ],
        )
        w.teach.panel.refresh(w.session, c)
    w.query.request()
    bench.idle()
    training = None
    if args.while_training:
        training = Training(bench, Path(tempfile.mkdtemp(prefix="gui-latency-runs-")))
        training.start()
        quiet = time.perf_counter()
        bench.heartbeat(10.0)  # the run's speed with the window idle
        quiet = (quiet, time.perf_counter())

    for _ in range(5):  # warm-up
        bench.query_stroke(rng)
    bench.phases.clear()
    penup = [bench.query_stroke(rng) for _ in range(args.trials)]
    phases = np.median(np.array(bench.phases), axis=0) * 1000

    readapt = []
    for t in range(max(10, args.trials // 5)):
        c = t % WAYS
        readapt.append(bench.add_example(glyph(rng, shapes[c]), c))
        w.teaching.remove_example(c, len(w.session.classes[c].examples) - 1)  # back to 5-shot
    bench.idle()

    idle_gaps = bench.heartbeat(args.seconds / 2)
    counter = [0]

    def churn():  # a new adaptation whenever the last one ended (support "changed")
        counter[0] += 1
        w.session._changed()
        w.query.request()

    slot_times.clear()
    slot_cpu.clear()
    churning = time.perf_counter()
    busy_gaps = bench.heartbeat(args.seconds, churn)
    churning = (churning, time.perf_counter())
    bench.idle()
    handovers = []
    if training is not None:
        handovers = [training.handover() for _ in range(args.handovers)]
        training.stop()
    adapt_ms = (w.learner.last_adaptation_s or math.nan) * 1000
    w.close()

    load = os.getloadavg()
    print(
        f"checkpoint: {checkpoint.name}; {WAYS}-way {SHOTS}-shot drawn support set, "
        f"{args.steps} adaptation steps, {view} tab shown, torch threads {args.threads}, "
        f"Qt platform {app.platformName()}, GIL switch interval {sys.getswitchinterval()} s, "
        f"gc.freeze {'no' if args.no_freeze else 'yes'}, "
        f"load average {load[0]:.2f} on {os.cpu_count()} CPUs"
    )
    if training is not None:
        print(
            "with a Learn-to-learn run training (default recipe) [targets: pen-up p95 <= 100 ms, "
            "stall <= 30 ms, Try it now <= 1 s]: its episodes/s "
            f"{training.rate(*quiet):.0f} with the window idle, "
            f"{training.rate(*churning):.0f} while adaptations run back to back"
        )
        saves, totals = zip(*handovers, strict=True)
        print(
            f"Try it now -> Teach tab's learner holds the weights ({len(totals)} clicks): median "
            f"{1000 * statistics.median(totals):.0f} ms, max {1000 * max(totals):.0f} ms "
            f"(of which the run's save: median {1000 * statistics.median(saves):.0f} ms)"
        )
    print(
        f"query pen-up -> bars updated   ({len(penup)} strokes): median {pct(penup, 50):.1f} ms, "
        f"p95 {pct(penup, 95):.1f} ms, max {pct(penup, 100):.1f} ms   [target p95 <= 50 ms]"
    )
    print(
        f"  median phases (ms): GUI pen-up to job {phases[0]:.1f}, queue wait {phases[1]:.1f}, "
        f"worker (preprocess + classify) {phases[2]:.1f}, result to bars drawn {phases[3]:.1f}"
    )
    print(
        f"add example -> re-adapted bars ({len(readapt)} adds):    "
        f"median {pct(readapt, 50):.1f} ms, "
        f"p95 {pct(readapt, 95):.1f} ms, max {pct(readapt, 100):.1f} ms   "
        f"(last adaptation in the worker: {adapt_ms:.1f} ms)"
    )
    print(
        f"GUI heartbeat during {counter[0]} back-to-back adaptations: longest stall "
        f"{pct(busy_gaps, 100):.1f} ms, p99 {pct(busy_gaps, 99):.1f} ms   [target <= 16 ms]"
    )
    print(
        f"  of which the window's own slots on the GUI thread:      longest "
        f"{pct(slot_times, 100):.1f} ms, p99 {pct(slot_times, 99):.1f} ms"
    )
    cpu = ", ".join(f"{k} {pct(v, 100):.1f}" for k, v in slot_cpu.items())
    print(f"  CPU time of those slots, longest (ms): {cpu}")
    print(
        f"GUI heartbeat while idle (machine noise):                 longest stall "
        f"{pct(idle_gaps, 100):.1f} ms, p99 {pct(idle_gaps, 99):.1f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
