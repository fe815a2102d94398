"""Meta-training throughput on 1 and 2 processes (torchrun, gloo, 1 thread each).

    METAGUI_DATA=../shared/data python benchmarks/scaling.py [--steps 30] [--procs 1 2]

Runs ``torchrun --standalone --nproc_per_node N -m core.train`` on Omniglot for each algorithm
and process count and prints training episodes per second, from the ``train_seconds`` each run
records (wall time after the data is loaded, with one validation episode at the end). On a
machine with CUDA, ``--device cuda`` runs the same on the GPU(s) (one process per GPU).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from core.checkpoint import load_checkpoint

RUNS = {  # algorithm -> flags (meta-batch divisible by 2: an even split of the episodes)
    "protonet": ["--ways", "20", "--shots", "5", "--queries", "5", "--meta-batch", "2"],
    "fomaml": ["--ways", "5", "--shots", "1", "--queries", "15", "--meta-batch", "4"],
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    torchrun = Path(sys.executable).with_name("torchrun")
    print(f"{'algorithm':10} {'processes':>9} {'episodes/s':>11} {'speed-up':>9}")
    for algorithm, flags in RUNS.items():
        base = None
        for n in args.procs:
            with tempfile.TemporaryDirectory() as out:
                cmd = [str(torchrun), "--standalone", "--nproc_per_node", str(n), "-m"]
                cmd += ["core.train", "--algorithm", algorithm, *flags, "--threads", "1"]
                cmd += ["--episodes", str(args.steps), "--val-every", str(args.steps)]
                cmd += ["--val-episodes", "1", "--val-ways", "5", "--device", args.device]
                cmd += ["--out", out]
                env = {**os.environ, "OMP_NUM_THREADS": "1"}
                subprocess.run(cmd, check=True, capture_output=True, env=env)
                meta = load_checkpoint(Path(out) / "last.pt").metadata
            batch = int(flags[flags.index("--meta-batch") + 1])
            rate = args.steps * batch / meta["train_seconds"]
            base = base or rate
            print(f"{algorithm:10} {n:>9} {rate:>11.2f} {rate / base:>8.2f}x", flush=True)


if __name__ == "__main__":
    main()
