"""Data load times (first decode vs cached) and ProtoNet per-episode step times.

    METAGUI_DATA=../shared/data python benchmarks/protonet_speed.py --threads 2

Prints: decode-and-cache time of the Vinyals train split on a fresh cache, the cached load time,
and per-episode training step / evaluation times, with channels_last (what Conv4 uses) against the
plain contiguous layout measured side by side in the same run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import torch

from core.algorithms.protonet import ProtoNet
from core.data.episodes import EpisodeSpec, sample_episode
from core.data.paths import data_root
from core.data.splits import load_split


def timed_load(root, cache: str) -> float:
    os.environ["METAGUI_CACHE"] = cache
    start = time.perf_counter()
    load_split(root, "vinyals", "train")
    return time.perf_counter() - start


def step_times(bank, spec, repeats, channels_last: bool, train: bool) -> list[float]:
    torch.manual_seed(0)
    learner = ProtoNet()
    if not channels_last:  # undo Conv4's own conversion for the comparison
        learner.to(memory_format=torch.contiguous_format)
        learner.backbone.forward = lambda x: learner.backbone.encoder(x).flatten(1)
    opt = torch.optim.Adam(learner.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    times = []
    for i in range(repeats + 2):
        ep = sample_episode(bank, spec, gen)
        start = time.perf_counter()
        if train:
            learner.train()
            learner.meta_step([ep], opt)
        else:
            learner.eval()
            with torch.no_grad():
                learner.episode_logits(ep)
        if i >= 2:  # warm-up
            times.append(time.perf_counter() - start)
    return times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--data-root", default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    root = data_root(args.data_root)
    with tempfile.TemporaryDirectory() as cache:
        first = timed_load(root, cache)
        second = timed_load(root, cache)
    print(f"Vinyals train split: first load (decode + cache) {first:.1f} s, cached {second:.2f} s")
    bank = load_split(root, "vinyals", "train")
    cases = [
        ("train 60-way 5-shot 5-query", EpisodeSpec(60, 5, 5), True),
        ("eval   5-way 1-shot 15-query", EpisodeSpec(5, 1, 15), False),
        ("eval  20-way 5-shot 15-query", EpisodeSpec(20, 5, 15), False),
    ]
    print(f"threads={args.threads}, median of {args.repeats} episodes")
    for name, spec, train in cases:
        fast = statistics.median(step_times(bank, spec, args.repeats, True, train))
        plain = statistics.median(step_times(bank, spec, args.repeats, False, train))
        print(
            f"{name}: {1000 * fast:7.1f} ms/episode (channels_last) vs {1000 * plain:7.1f} ms "
            f"(contiguous): {plain / fast:.2f}x"
        )


if __name__ == "__main__":
    main()
