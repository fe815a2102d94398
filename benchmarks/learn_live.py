"""The window's "Learn to learn" run, measured: accuracy after 1 and 2 minutes of training, and
its speed against the same recipe under ``core.train``.

    METAGUI_DATA=../shared/data python benchmarks/learn_live.py --minutes 1 2 \\
        --out runs/learn_live [--episodes 1000] [--threads 2] [--core-train-seconds 60]

Runs ``python -m core.training.live`` with the window's default recipe (``--preset
protonet-vinyals-fast``, the precision measured and chosen at run time) exactly as the window
starts it, asks for the weights ("save", the window's "Try it now") when its training clock
passes each of ``--minutes``, and stops it after the last. Each saved model is then scored on
``core.evaluate``'s fixed Vinyals test episodes, 5-way 1-shot and 20-way 1-shot with 15 queries
(``--episodes`` each, seed 1234), like ``benchmarks/time_to_accuracy.py``. With
``--core-train-seconds S`` it also runs ``core.train`` with the same recipe and the precision
chosen for S seconds of wall time and compares meta-steps per second. Prints the machine's load
average with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

from core.checkpoint import load_checkpoint
from core.data.episodes import EpisodeSpec
from core.data.paths import data_root
from core.data.splits import load_split
from core.evaluate import EVAL_SEED, evaluate_iter, summarize

PRESET = "protonet-vinyals-fast"
SETTINGS = {"5w1s": EpisodeSpec(5, 1, 15), "20w1s": EpisodeSpec(20, 1, 15)}
REPO = Path(__file__).resolve().parents[1]


def load() -> str:
    return "load average " + " / ".join(f"{x:.1f}" for x in os.getloadavg())


def live_run(args) -> tuple[list[Path], dict, float]:
    """Train through core.training.live; the checkpoints saved at each of ``--minutes``, the
    ``started`` event and the meta-steps per second of training time."""
    out = args.out / "live"
    cmd = [sys.executable, "-m", "core.training.live", "--preset", PRESET, "--out", str(out),
           "--eval-episodes", "0", "--events", "-"]  # fmt: skip
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env=env, cwd=REPO)  # fmt: skip
    marks = sorted(60 * m for m in args.minutes)
    saved, started, rate = [], {}, 0.0
    last_step = {"step": 0, "elapsed": 0.0}
    for line in proc.stdout:
        event = json.loads(line)
        kind = event["kind"]
        if kind == "started":
            started = event
            print(f"live: {event['probe'] or 'precision as given'}; {load()}", flush=True)
        elif kind == "step":
            last_step = event
            if marks and event["elapsed"] >= marks[0]:
                marks.pop(0)
                proc.stdin.write("save\n" if marks else "stop\n")
                proc.stdin.flush()
        elif kind == "saved" and event["why"] in ("now", "final"):
            saved.append(Path(event["path"]))
            print(f"live: saved step {event['step']} at {event['elapsed']:.1f} s of training; "
                  f"{load()}", flush=True)  # fmt: skip
        elif kind == "error":
            raise SystemExit(f"live run failed: {event['text']}")
    proc.wait()
    rate = last_step["step"] / max(last_step["elapsed"], 1e-9)
    return saved, started, rate


def core_train_rate(args, amp: str) -> float:
    """Meta-steps per second of ``core.train`` with the recipe for ``--core-train-seconds``."""
    out = args.out / "core-train"
    cmd = [sys.executable, "-m", "core.train", "--preset", PRESET, "--out", str(out),
           "--max-minutes", str(args.core_train_seconds / 60), "--val-every", "1000000",
           "--val-episodes", "1"]  # fmt: skip
    cmd += ["--amp", amp] if amp else []
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    start = time.monotonic()
    subprocess.run(cmd, check=True, env=env, cwd=REPO, capture_output=True)
    ckpt = load_checkpoint(out / "last.pt")
    steps, seconds = ckpt.metadata["step"], ckpt.metadata["train_seconds"]
    print(f"core.train: {steps} steps in {seconds:.1f} s (wall {time.monotonic() - start:.0f} s, "
          f"with start-up and the final validation); {load()}", flush=True)  # fmt: skip
    return steps / seconds


def score(path: Path, banks: dict, episodes: int) -> dict[str, float]:
    learner = load_checkpoint(path).learner
    return {
        k: 100 * summarize([r.accuracy for r in evaluate_iter(
            learner, banks[k], spec, episodes, EVAL_SEED)]).mean
        for k, spec in SETTINGS.items()
    }  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, nargs="+", default=[1.0, 2.0])
    p.add_argument("--episodes", type=int, default=1000, help="test episodes per setting")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    p.add_argument("--core-train-seconds", type=float, default=0)
    p.add_argument("--out", type=Path, default=Path("runs/learn_live"))
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.threads:
        torch.set_num_threads(args.threads)
    saved, started, rate = live_run(args)
    print(f"live: {rate:.2f} meta-steps per second of training ({PRESET})", flush=True)
    if args.core_train_seconds:
        other = core_train_rate(args, started.get("amp", ""))
        print(f"speed, live / core.train: {rate / other:.2f}", flush=True)
    test = load_split(data_root(), "vinyals", "test")
    banks = dict.fromkeys(SETTINGS, test)
    for minutes, path in zip(sorted(args.minutes), saved, strict=False):
        start = time.monotonic()
        acc = score(path, banks, args.episodes)
        cells = ", ".join(f"{k} {v:.2f} %" for k, v in acc.items())
        print(f"after {minutes:g} min of training ({path.name}): {cells} "
              f"({args.episodes} episodes each, scored in {time.monotonic() - start:.0f} s); "
              f"{load()}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
