"""Episode loading speed of a lazy (JPEG) dataset with 0 and N DataLoader workers.

    python benchmarks/data_loading.py --threads 1 --workers 2

Writes mini-ImageNet-shaped data (``--classes`` x ``--per-class`` 84x84 JPEGs, ``images/`` plus a
Ravi-style ``train.csv``) in a temporary folder, then prints for 5-way 5-shot 15-query episodes:

* the JPEG decode time per image and what decoding the whole set up front would cost;
* episodes/s and data-loading time per episode with nothing else running (pure loading);
* the main process's wait per episode when each training step takes ``--step-ms`` (simulated
  with sleep: workers decode while the step runs, as in training);
* the per-episode cost once everything is decoded into memory (what a .npy cache would give).
"""

from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from core.data.base import InMemoryDataset
from core.data.datasets import load_dataset
from core.data.episodes import EpisodeSpec, EpisodeStream


def make_data(root: Path, classes: int, per_class: int) -> None:
    """``root/miniimagenet/images/*.jpg`` and ``splits/ravi/train.csv`` (photo-like JPEGs)."""
    images = root / "miniimagenet" / "images"
    images.mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = [("filename", "label")]
    for c in range(classes):
        wnid = f"n{c:08d}"
        for i in range(per_class):
            base = rng.integers(0, 256, size=(3,)).astype(np.float32)
            noise = rng.normal(0, 40, size=(84, 84, 3))
            img = Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8))
            box = tuple(int(v) for v in rng.integers(5, 80, size=4))
            ImageDraw.Draw(img).ellipse(
                (
                    min(box[0], box[2]),
                    min(box[1], box[3]),
                    max(box[0], box[2]) + 1,
                    max(box[1], box[3]) + 1,
                ),
                fill=tuple(int(v) for v in rng.integers(0, 256, size=3)),
            )
            name = f"{wnid}{i:08d}.jpg"
            img.save(images / name, quality=95)
            rows.append((name, wnid))
    splits = root / "miniimagenet" / "splits" / "ravi"
    splits.mkdir(parents=True)
    with (splits / "train.csv").open("w", newline="") as f:
        csv.writer(f).writerows(rows)


def run(stream: EpisodeStream, episodes: int, step_s: float) -> tuple[float, float]:
    """(episodes per second, mean main-process wait per episode in s) after 3 warm-up episodes."""
    for _ in range(3):
        stream.next()
    waits = []
    start = time.perf_counter()
    for _ in range(episodes):
        t = time.perf_counter()
        stream.next()
        waits.append(time.perf_counter() - t)
        if step_s:
            time.sleep(step_s)
    total = time.perf_counter() - start
    return episodes / total, statistics.fmean(waits)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1, help="torch threads of the main process")
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers compared with 0")
    p.add_argument("--classes", type=int, default=20)
    p.add_argument("--per-class", type=int, default=60)
    p.add_argument("--episodes", type=int, default=30, help="timed episodes per setting")
    p.add_argument("--step-ms", type=float, default=150.0, help="simulated training step")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    spec = EpisodeSpec(ways=5, shots=5, queries=15)
    with tempfile.TemporaryDirectory() as tmp:
        make_data(Path(tmp), args.classes, args.per_class)
        ds = load_dataset("miniimagenet", Path(tmp), "train")
        n = int(ds.counts.sum())
        print(
            f"{ds.n_classes} classes x {args.per_class} JPEGs 84x84, 5-way 5-shot 15-query "
            f"(100 images per episode), torch threads {args.threads}"
        )
        start = time.perf_counter()
        images = ds.items(torch.arange(n))
        decode = (time.perf_counter() - start) / n
        print(
            f"decode: {1e3 * decode:.2f} ms per image; all {n} up front {n * decode:.1f} s "
            f"(the Ravi train split, 38,400 images: ~{38400 * decode:.0f} s, "
            f"{38400 * images[0].numel() / 2**20:.0f} MiB decoded)"
        )
        for step_s in (0.0, args.step_ms / 1e3):
            label = "loading only" if not step_s else f"with a {args.step_ms:.0f} ms step"
            for workers in (0, args.workers):
                with EpisodeStream(ds, spec, seed=0, workers=workers) as stream:
                    rate, wait = run(stream, args.episodes, step_s)
                print(
                    f"{label:>22}, {workers} workers: {rate:6.2f} episodes/s, "
                    f"data-loading wait {1e3 * wait:6.1f} ms per episode"
                )
        memory = InMemoryDataset(
            name="decoded",
            split=ds.split,
            subset=ds.subset,
            root=ds.root,
            names=ds.names,
            offsets=ds.offsets,
            counts=ds.counts,
            preprocess=ds.preprocess,
            images=images,
        )
        with EpisodeStream(memory, spec, seed=0) as stream:
            rate, wait = run(stream, args.episodes, 0.0)
        print(
            f"{'decoded in memory':>22}, 0 workers: {rate:6.2f} episodes/s, "
            f"data-loading wait {1e3 * wait:6.1f} ms per episode"
        )


if __name__ == "__main__":
    main()
