"""Does a MANN checkpoint use its memory? Santoro et al.'s protocol with and without its reads.

    METAGUI_DATA=../shared/data python benchmarks/mann_memory_use.py \
        --checkpoint assets/checkpoints/mann-omniglot.pt --episodes 200

Runs seeded 5-way sequences shaped as ``core.evaluate --protocol sequence``'s (10 images per
class, Lake's evaluation alphabets; ``--seed`` 0 by default, where core.evaluate's is 1234)
twice: as trained, then with every read vector replaced by zeros (the controller and the output
layer see nothing from the memory; everything else unchanged). It prints the accuracy at the
1st/2nd/3rd/5th/10th presentation of both runs, the read attention (reads peaking on a slot the
class wrote) and the read peak (a head's largest read weight; 1 / slots when reads are
uniform). A learner that stores what it needs in its LSTM state loses little without its reads;
one that uses the memory falls toward chance.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from unittest import mock

import torch

sys.path.insert(0, str(Path.cwd()))  # the core of the checkout this is run from

from core.algorithms import mann
from core.checkpoint import load_checkpoint
from core.data import load_dataset
from core.data.episodes import EpisodeSpec, episodes
from core.data.paths import data_root
from core.evaluate import PRESENTATIONS

_LRUA_STEP = mann.lrua_step  # the original, called by the patched one


def without_reads(*args, **kwargs):
    """``lrua_step`` with the read vectors zeroed (the weights and the memory unchanged)."""
    state, w_write = _LRUA_STEP(*args, **kwargs)
    return replace(state, vectors=torch.zeros_like(state.vectors)), w_write


def run(learner, bank, n: int, seed: int) -> mann.PresentationAccuracy:
    spec = EpisodeSpec(5, 1, max(PRESENTATIONS) - 1)  # as core.evaluate --protocol sequence
    return mann.presentation_accuracy(learner, episodes(bank, spec, n, seed, 0), PRESENTATIONS)


def row(name: str, result: mann.PresentationAccuracy) -> str:
    cells = " | ".join(f"{100 * a:.2f}" for a in result.accuracy)
    return f"| {name} | {cells} | {100 * result.own_reads:.2f} | {result.read_peak:.3f} |"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default="assets/checkpoints/mann-omniglot.pt")
    p.add_argument("--episodes", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    ckpt = load_checkpoint(args.checkpoint)
    if ckpt.learner.name != "mann":
        sys.exit(f"error: {args.checkpoint} holds a {ckpt.learner.name}, not a mann")
    bank = load_dataset("omniglot", data_root(), "test", ckpt.preprocess, split="lake")
    slots = ckpt.learner.config.slots
    print(f"{args.checkpoint}, {args.episodes} sequences of 5 classes x 10 images, "
          f"seed {args.seed}")  # fmt: skip
    print(f"| reads | {' | '.join(f'{k}.' for k in PRESENTATIONS)} | own-class reads % | "
          f"read peak (uniform {1 / slots:.3f}) |")  # fmt: skip
    print("|---" * (len(PRESENTATIONS) + 3) + "|")
    with torch.no_grad():
        print(row("as trained", run(ckpt.learner, bank, args.episodes, args.seed)), flush=True)
        with mock.patch.object(mann, "lrua_step", without_reads):
            print(row("zeroed", run(ckpt.learner, bank, args.episodes, args.seed)))


if __name__ == "__main__":
    main()
