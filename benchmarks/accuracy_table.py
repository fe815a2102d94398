"""Vinyals-test accuracy of checkpoints in the four standard settings (the README's tables).

Runs ``core.evaluate``'s fixed, seeded episodes (the same episodes as the CLI) for 5-way 1-shot,
5-way 5-shot, 20-way 1-shot and 20-way 5-shot, 15 queries per class, and prints one markdown row
per checkpoint. Results go to ``--out`` (JSON) as each setting finishes; settings already there
are skipped, so an interrupted run continues where it stopped.

    METAGUI_DATA=../shared/data python benchmarks/accuracy_table.py \\
        assets/checkpoints/matching-omniglot.pt [more.pt ...] [--episodes 1000] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from core.checkpoint import CheckpointError, load_checkpoint
from core.data.episodes import EpisodeSpec
from core.data.paths import data_root
from core.data.splits import load_split
from core.device import keep_freed_memory
from core.evaluate import evaluate_iter, overlap_problem, summarize

SETTINGS = ((5, 1), (5, 5), (20, 1), (20, 5))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoints", nargs="+", type=Path)
    p.add_argument("--episodes", type=int, default=1000)
    p.add_argument("--queries", type=int, default=15)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("accuracy.json"))
    p.add_argument(
        "--settings",
        default=",".join(f"{w}w{s}s" for w, s in SETTINGS),
        help="comma-separated subset, e.g. 20w5s (default: all four)",
    )
    p.add_argument(
        "--transductive",
        action="store_true",
        help="queries normalised with their own BatchNorm statistics (gradient learners; the "
        "MAML and Reptile papers' protocol); rows are stored as 'NAME transductive'",
    )
    args = p.parse_args(argv)
    keep_freed_memory()
    torch.set_num_threads(args.threads)
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    banks = {}
    for path in args.checkpoints:
        try:
            ckpt = load_checkpoint(path)
        except CheckpointError as exc:
            print(f"{path}: {exc}", file=sys.stderr)
            return 2
        size = ckpt.learner.config.input_size
        if size not in banks:
            banks[size] = load_split(data_root(), "vinyals", "test", size)
        problem = overlap_problem(ckpt.metadata, banks[size])
        if problem:
            print(f"{path}: refusing to evaluate: {problem}", file=sys.stderr)
            return 2
        if args.transductive and not ckpt.learner.capabilities.transductive:
            print(f"{path}: --transductive needs a gradient learner", file=sys.stderr)
            return 2
        name = f"{path.name} transductive" if args.transductive else path.name
        row = results.setdefault(name, {})
        for ways, shots in SETTINGS:
            key = f"{ways}w{shots}s"
            if key not in args.settings.split(","):
                continue
            if key in row and row[key]["episodes"] >= args.episodes:
                continue
            start = time.perf_counter()
            spec = EpisodeSpec(ways, shots, args.queries)
            results_iter = evaluate_iter(
                ckpt.learner, banks[size], spec, args.episodes, transductive=args.transductive
            )
            accs = [r.accuracy for r in results_iter]
            s = summarize(accs)
            row[key] = {
                "accuracy": s.mean,
                "ci95": s.ci95,
                "episodes": s.episodes,
                "queries": args.queries,
                "seconds": time.perf_counter() - start,
            }
            args.out.write_text(json.dumps(results, indent=1))
            print(f"{name} {key}: {100 * s.mean:.2f} ± {100 * s.ci95:.2f} %", flush=True)
        cells = " | ".join(
            f"{100 * row[k]['accuracy']:.2f} ± {100 * row[k]['ci95']:.2f}" if k in row else "–"
            for k in (f"{w}w{s}s" for w, s in SETTINGS)
        )
        print(f"| {ckpt.learner.name} ({name}) | {cells} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
