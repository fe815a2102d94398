"""``python -m core.training.live``: a ``core.train`` run that reports itself as JSON lines and
takes commands, for the window's "Learn to learn" view (or any other front end).

    python -m core.training.live --preset protonet-vinyals-fast --out runs/live --events -

Every ``core.train`` flag works and means the same (the run set-up is ``prepare_run``; the run
folder gets the same ``last.pt``/``best.pt``/``metrics.csv``, so ``core.train --resume --out``
continues it and ``core.evaluate`` scores its checkpoints). On top, ``--events -`` writes one JSON
object per line on stdout (``kind``: ``started``, ``step``, ``eval``, ``validation``,
``thumbnails``, ``saved``, ``done``, ``error``; see ``metagui/app/live.py``), with:

- ``eval``: few-shot accuracy on the dataset's held-out test classes, 5-way 1-shot and 20-way
  1-shot, ``--eval-episodes`` fixed seeded episodes each (``core.evaluate``'s seed: the same
  episodes every time), before the first step and every ``--eval-every`` seconds of training;
- ``thumbnails``: ``episode.png`` in the run folder, the support and some queries of the episode
  just trained on, at most once per ``--thumbnail-every`` seconds.

``elapsed`` is training time: evaluations and pauses do not count, and ``--max-minutes`` is
measured on that clock. Commands on stdin, one per line: ``save`` (write the current weights as
``now-<step>.pt`` and report it), ``pause``, ``resume``, ``stop`` (end after the current step;
save ``last.pt``, resumable, and ``<run folder name>.pt``, the weights reached; exit 0). The end
of stdin stops the run the same way (the window that started it has gone). SIGTERM saves the
same files (exit 130).
"""

from __future__ import annotations

import argparse
import os
import queue
import signal
import sys
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass, field

from core.cli import fail, setup_device
from core.data.datasets import trained_on
from core.data.episodes import EpisodeSpec
from core.data.spec import PreprocessSpec
from core.evaluate import EVAL_SEED, evaluate_iter, summarize
from core.training.live_io import Events, read_commands
from core.training.precision import can_probe, probe_precision
from core.training.setup import PreparedRun, parse_run_args, prepare_run
from core.training.signals import sigterm_interrupts
from core.training.sinks import RunWriter
from core.training.snapshot import StepSnapshot, save_snapshot, snapshot
from core.training.thumbnails import write_grid
from core.training.trainer import TrainStep

#: The held-out settings measured live: (ways, shots), and queries per class. Few queries and
#: episodes keep an evaluation to ~3,000 images (a few seconds on two CPU cores): 20 episodes
#: give 500 and 2,000 queries, about ±0.6 points at 98 % (``benchmarks/learn_live.py`` measures
#: with ``core.evaluate``'s 1,000 episodes of 15 queries).
LIVE_SETTINGS = ((5, 1), (20, 1))
LIVE_QUERIES = 5
#: Seconds of step timings the episodes-per-second figure averages.
RATE_WINDOW = 3.0
#: Seconds a stop waits for the current step (or evaluation) to end before the run is saved at
#: its last completed step from the command thread and the process exits.
STOP_GRACE = 0.3


def parse_live_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """This module's own flags, and the rest (``core.train``'s flags, recorded in checkpoints)."""
    p = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    p.add_argument("--events", default="-", help="where the JSON lines go: - (stdout) or a file")
    p.add_argument("--eval-episodes", type=int, default=20)
    p.add_argument("--eval-every", type=float, default=15.0, help="training seconds")
    p.add_argument("--thumbnail-every", type=float, default=1.0, help="seconds")
    p.add_argument(
        "--precision",
        choices=("auto", "given"),
        default="auto",
        help="auto: time float32 and bfloat16 steps first and train with the faster (a new CPU "
        "run of a metric learner); given: --amp as given",
    )
    p.add_argument("--nice", type=int, default=0, choices=range(20), metavar="0-19",
                   help="lower the run's CPU priority (POSIX) so that a window beside it stays "
                   "responsive")  # fmt: skip
    live, rest = p.parse_known_args(argv)
    if live.eval_episodes < 0 or live.eval_every <= 0 or live.thumbnail_every < 0:
        raise ValueError("--eval-episodes must be >= 0, --eval-every > 0, --thumbnail-every >= 0")
    return live, rest


@dataclass
class HeldOut:
    """The held-out classes and the settings measured on them (those they have classes for)."""

    dataset: object
    settings: list[tuple[int, int]]
    label: str


def held_out(prepared: PreparedRun, args: argparse.Namespace) -> HeldOut:
    """The test classes of the run's dataset, in the run's preprocessing."""
    meta = prepared.metadata
    source = trained_on(meta)
    spec = PreprocessSpec.from_metadata(meta)
    bank = source.load(args.data_root, "test", spec, getattr(args, "data_root_given", False))
    settings = [(w, s) for w, s in LIVE_SETTINGS if w <= bank.n_classes]
    return HeldOut(bank, settings, f"{source.split or source.name} test classes")


@dataclass
class LiveRun:
    prepared: PreparedRun
    held: HeldOut
    live: argparse.Namespace
    events: Events
    commands: queue.Queue
    writer: RunWriter | None = None
    batch: list | None = None
    seconds: float = 0.0  # training clock
    rates: deque = field(default_factory=deque)
    last_eval: dict = field(default_factory=dict)
    snapshot: StepSnapshot | None = None  # the last completed step
    finishing: threading.Lock = field(default_factory=threading.Lock)  # who saves the end

    def run(self) -> int:
        p = self.prepared
        trainer, config = p.trainer, p.trainer.config
        self.writer = RunWriter(trainer, p.out, p.metadata)
        if trainer.step > 0:
            self.seconds = self.writer.seconds_before
        self.snapshot = snapshot(trainer, self.seconds)
        self._capture_batches()
        probe = self._choose_precision()
        self.events.emit(
            "started",
            probe=probe,
            out=str(p.out),
            algorithm=config.algorithm,
            total=config.episodes,
            step=trainer.step,
            resumed=p.resumed,
            amp=trainer.amp or "",  # after the probe: the precision trained in
            held_out=self.held.label,
            meta_batch=config.meta_batch,
            max_seconds=p.seconds,
        )
        self._evaluate()
        generator = trainer.run()
        next_eval = self.seconds + self.live.eval_every
        next_picture = 0.0
        code, why = 0, "finished"
        try:
            with sigterm_interrupts():
                while True:
                    action = self._commands(block=False)
                    if action == "stop":
                        why = "stopped"
                        break
                    start = time.monotonic()
                    rec = next(generator, None)
                    self.seconds += time.monotonic() - start
                    if rec is None:
                        break
                    self.writer.record(rec)
                    if not isinstance(rec, TrainStep):
                        self.events.emit(
                            "validation",
                            step=rec.step,
                            accuracy=rec.accuracy,
                            ci95=rec.ci95,
                            best=rec.best,
                            elapsed=self.seconds,
                        )
                        continue
                    self.snapshot = snapshot(trainer, self.seconds)
                    self._step(rec)
                    if time.monotonic() >= next_picture and self.batch:
                        self._picture()
                        next_picture = time.monotonic() + self.live.thumbnail_every
                    if self.seconds >= next_eval:
                        self._evaluate()
                        next_eval = self.seconds + self.live.eval_every
                    if p.seconds is not None and self.seconds >= p.seconds:
                        why = "time limit"
                        break
        except KeyboardInterrupt:  # SIGTERM, maybe in the middle of a step or an evaluation
            generator.close()
            self._finish("interrupted", self.snapshot)
            return 130
        generator.close()
        self._finish(why)
        return code

    # ------------------------------------------------------------------ pieces
    def _capture_batches(self) -> None:
        """Keep the episodes of each meta-step for the thumbnails (the trainer draws them)."""
        trainer = self.prepared.trainer
        draw = trainer._batch

        def remembering() -> list:
            self.batch = draw()
            return self.batch

        trainer._batch = remembering

    def _choose_precision(self) -> str:
        """With ``--precision auto``, train in the faster precision; what was measured."""
        trainer = self.prepared.trainer
        if (
            self.live.precision != "auto"
            or trainer.step
            or not can_probe(trainer.learner, trainer.device)
        ):
            return ""
        c = trainer.config
        probe = probe_precision(
            trainer.learner, trainer.train_set, trainer.train_spec, c.meta_batch
        )
        trainer.amp = probe.faster
        text = (
            f"bf16 {1000 * probe.bf16:.0f} ms/step, fp32 {1000 * probe.fp32:.0f} ms/step: "
            f"training in {probe.faster or 'fp32'}"
        )
        self.prepared.metadata["precision_probe"] = text  # recorded in the checkpoints
        return text

    def stop_soon(self) -> None:
        """Called on the command thread for "stop": unless the main thread finishes within
        ``STOP_GRACE`` seconds (a step or an evaluation can take longer), save the last
        completed step from a thread of its own and end the process."""

        def watch() -> None:
            time.sleep(STOP_GRACE)
            if self._finish("stopped", self.snapshot, wait=False):
                os._exit(0)

        threading.Thread(target=watch, name="live-stop", daemon=True).start()

    def _commands(self, block: bool) -> str | None:
        """Handle the waiting commands; "stop" when the run must end. A pause blocks here."""
        paused = False
        while True:
            try:
                word = self.commands.get(block=paused or block)
            except queue.Empty:
                return None
            if word == "save":
                self._save(f"now-{self.prepared.trainer.step}.pt", "now")
            elif word == "pause" and not paused:
                paused = True
                self.events.emit("paused", step=self.prepared.trainer.step)
            elif word == "resume" and paused:
                self.events.emit("resumed", step=self.prepared.trainer.step)
                return None
            elif word in ("stop", "eof"):
                return "stop"

    def _step(self, rec: TrainStep) -> None:
        trainer = self.prepared.trainer
        self.rates.append((self.seconds, rec.step))
        while len(self.rates) > 2 and self.seconds - self.rates[0][0] > RATE_WINDOW:
            self.rates.popleft()
        (t0, s0), per_second = self.rates[0], 0.0
        if self.seconds > t0:
            per_second = (rec.step - s0) / (self.seconds - t0)
        eta = None
        if per_second > 0:
            eta = (trainer.config.episodes - rec.step) / per_second
            if self.prepared.seconds is not None:
                eta = min(eta, max(0.0, self.prepared.seconds - self.seconds))
        self.events.emit(
            "step",
            step=rec.step,
            loss=rec.loss,
            accuracy=rec.accuracy,
            episodes_per_s=per_second * trainer.config.meta_batch,
            elapsed=self.seconds,
            eta=eta,
        )

    def _evaluate(self) -> None:
        """Accuracy on the fixed held-out episodes (not counted as training time)."""
        if not self.live.eval_episodes or not self.held.settings:
            return
        trainer = self.prepared.trainer
        results = []
        for ways, shots in self.held.settings:
            spec = EpisodeSpec(ways, shots, LIVE_QUERIES)
            accs = [
                r.accuracy
                for r in evaluate_iter(
                    trainer.learner,
                    self.held.dataset,
                    spec,
                    self.live.eval_episodes,
                    EVAL_SEED,
                    trainer.device,
                )
            ]
            s = summarize(accs)
            results.append({"ways": ways, "shots": shots, "accuracy": s.mean, "ci95": s.ci95})
        trainer.learner.train()
        self.last_eval = {"step": trainer.step, "results": results}
        self.events.emit(
            "eval",
            step=trainer.step,
            elapsed=self.seconds,
            results=results,
            episodes=self.live.eval_episodes,
            classes=self.held.label,
        )

    def _picture(self) -> None:
        path = self.prepared.out / "episode.png"
        ink = self.prepared.metadata.get("preprocess", {}).get("kind", "ink") == "ink"
        write_grid(self.batch[0], path, ink)
        self.events.emit("thumbnails", step=self.prepared.trainer.step, path=str(path))

    def _metrics(self) -> dict:
        """What a checkpoint written here records: the latest held-out accuracies."""
        metrics = {"live_held_out": self.held.label, "live_eval_episodes": self.live.eval_episodes}
        for r in self.last_eval.get("results", []):
            metrics[f"live_{r['ways']}w{r['shots']}s"] = r["accuracy"]
        if self.last_eval:
            metrics["live_eval_step"] = self.last_eval["step"]
        return metrics

    def _save(self, name: str, why: str, with_state: bool = False, snap=None) -> None:
        """Write checkpoint ``name`` of the trainer now, or of ``snap`` (a ``StepSnapshot``)."""
        metrics = {**self._metrics(), "interrupted": with_state}
        if snap is None:
            self.writer.save(name, metrics, with_state)
        else:
            save_snapshot(self.writer, snap, name, metrics, with_state)
        step = self.prepared.trainer.step if snap is None else snap.step
        seconds = self.seconds if snap is None else snap.seconds
        path = str(self.prepared.out / name)
        self.events.emit("saved", path=path, why=why, step=step, elapsed=seconds)

    def _finish(self, why: str, snap=None, wait: bool = True) -> bool:
        """Keep the last completed step: ``last.pt`` (resumable) and the run's model. Only one
        thread finishes: the other waits (``wait``) or returns False."""
        if not self.finishing.acquire(blocking=False):
            if not wait:
                return False
            while True:  # the other thread saves and ends the process
                time.sleep(1)
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM: let the saves end
        final = f"{self.prepared.out.name}.pt"
        self._save("last.pt", "last", with_state=True, snap=snap)
        self._save(final, "final", snap=snap)
        self.writer.close()
        step = self.prepared.trainer.step if snap is None else snap.step
        seconds = self.seconds if snap is None else snap.seconds
        path = str(self.prepared.out / final)
        self.events.emit("done", why=why, step=step, elapsed=seconds, path=path)
        return True


def main(argv: list[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else argv
    try:
        live, rest = parse_live_args(given)
        args, explicit, _ = parse_run_args(rest)
    except ValueError as exc:
        return fail(str(exc))
    if live.nice and hasattr(os, "nice"):  # before torch starts its threads: they inherit it
        os.nice(live.nice)
    out = sys.stdout
    if live.events == "-":
        sys.stdout = sys.stderr  # anything else printed must not mix with the events
    else:
        out = open(live.events, "a", buffering=1)  # noqa: SIM115 (open for the whole run)
    events = Events(out)
    device = setup_device(args)
    try:
        prepared = prepare_run(args, explicit, rest, device)
        held = held_out(prepared, args)
    except (ValueError, FileNotFoundError) as exc:
        events.emit("error", text=str(exc))
        return fail(str(exc))
    commands: queue.Queue = queue.Queue()
    run = LiveRun(prepared, held, live, events, commands)
    read_commands(sys.stdin, commands, run.stop_soon)
    try:
        return run.run()
    except Exception as exc:  # a one-line reason for the window, the traceback for a reader
        traceback.print_exc()
        text = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        events.emit("error", text=text)
        return 1
    finally:
        if out is not sys.__stdout__:
            out.close()


if __name__ == "__main__":
    sys.exit(main())
