"""Per-episode results of every shipped checkpoint, as a digest to compare two versions of core.

    METAGUI_DATA=../shared/data python benchmarks/episode_digest.py --episodes 100 > new.txt
    (cd OLD_CHECKOUT && python /path/to/episode_digest.py --episodes 100) > old.txt
    diff old.txt new.txt   # no output: the same accuracy on every episode

Runs ``core.evaluate``'s seeded episodes (default seed) on the Vinyals test split (Lake's
within-alphabet task for the background checkpoint) with whatever ``core`` is importable from
the current directory, and prints per checkpoint and setting the mean accuracy and a SHA-1 of the
per-episode accuracies. Uses only APIs that older releases have too.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path.cwd()))  # the core of the checkout this is run from

from core.checkpoint import load_checkpoint
from core.data.episodes import EpisodeSpec
from core.data.paths import data_root
from core.data.splits import load_split
from core.evaluate import evaluate_iter

SETTINGS = ((5, 1), (20, 1))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument(
        "--checkpoints", default=str(Path(__file__).resolve().parents[1] / "assets" / "checkpoints")
    )
    args = p.parse_args()
    torch.set_num_threads(1)
    root = data_root()
    for path in sorted(Path(args.checkpoints).rglob("*.pt")):
        ckpt = load_checkpoint(path)
        lake = ckpt.metadata.get("split") == "lake"
        bank = load_split(root, "lake" if lake else "vinyals", "test", 28)
        for ways, shots in SETTINGS:
            spec = EpisodeSpec(ways, shots, 1 if lake else 15, lake, lake)
            accs = [r.accuracy for r in evaluate_iter(ckpt.learner, bank, spec, args.episodes)]
            digest = hashlib.sha1(repr(accs).encode()).hexdigest()[:16]
            mean = 100 * sum(accs) / len(accs)
            print(f"{path.name} {ways}w{shots}s {mean:.4f} {digest}", flush=True)


if __name__ == "__main__":
    main()
