"""``python -m core.evaluate``: accuracy and 95 % confidence interval over fixed, seeded episodes.

python -m core.evaluate --checkpoint assets/checkpoints/protonet-omniglot.pt --ways 5 --shots 1
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from tqdm import tqdm

from core.algorithms import Learner, final_step
from core.cli import add_data_args, add_device_args, fail, load_checkpoint_arg
from core.data.episodes import EpisodeSpec, episodes
from core.data.splits import SPLITS, ClassBank, load_split

#: Seed of the fixed evaluation episodes (the same for every checkpoint, so figures compare).
EVAL_SEED = 1234


@dataclass(frozen=True)
class EpisodeResult:
    index: int
    accuracy: float


@dataclass(frozen=True)
class Summary:
    mean: float
    ci95: float
    episodes: int


def evaluate_iter(
    learner: Learner,
    bank: ClassBank,
    spec: EpisodeSpec,
    count: int,
    seed: int = EVAL_SEED,
    device: torch.device | str = "cpu",
    steps: int | None = None,
    lr: float | None = None,
) -> Iterator[EpisodeResult]:
    """Adapt to each of ``count`` seeded episodes and yield its query accuracy."""
    learner.eval()
    for i, ep in enumerate(episodes(bank, spec, count, seed)):
        ep = ep.to(device)
        clf = final_step(
            learner.adapt(ep.support, ep.support_labels, steps=steps, lr=lr)
        ).classifier
        with torch.no_grad():
            pred = clf.logits(ep.query).argmax(1)
        yield EpisodeResult(i, float((pred == ep.query_labels).float().mean()))


def summarize(accuracies: list[float]) -> Summary:
    """Mean and half-width of the normal 95 % confidence interval."""
    n = len(accuracies)
    acc = torch.tensor(accuracies, dtype=torch.float64)
    std = float(acc.std(unbiased=True)) if n > 1 else 0.0
    return Summary(float(acc.mean()), 1.96 * std / math.sqrt(n), n)


def overlap_problem(metadata: dict, bank: ClassBank) -> str | None:
    """Why scoring this checkpoint on ``bank`` is unfair (it trained on some of its characters)."""
    clash = set(metadata.get("train_characters", [])) & bank.characters
    if not clash:
        return None
    alphabets = sorted({c.split("/")[0] for c in clash})
    return (
        f"checkpoint was trained on {metadata.get('split')}/{metadata.get('subset')}, which holds "
        f"{len(clash)} of the test characters (alphabets: {', '.join(alphabets)})"
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m core.evaluate",
        description="Mean few-shot accuracy and 95%% confidence interval of a checkpoint over "
        "fixed, seeded test episodes.",
    )
    p.add_argument("--checkpoint", required=True, help="path to a metagui checkpoint (.pt)")
    p.add_argument("--ways", type=int, default=5, help="classes per episode (default 5)")
    p.add_argument("--shots", type=int, default=1, help="support examples per class (default 1)")
    p.add_argument("--queries", type=int, default=15, help="query images per class (default 15)")
    p.add_argument("--episodes", type=int, default=1000, help="test episodes (default 1000)")
    p.add_argument(
        "--split", choices=SPLITS, default="vinyals", help="class split (default vinyals)"
    )
    p.add_argument("--subset", default="test", help="subset of the split (default test)")
    p.add_argument(
        "--within-alphabet",
        action="store_true",
        help="all classes of an episode from one alphabet, support and queries from two drawers "
        "shared by all classes (Lake et al.'s one-shot benchmark; use with --split lake)",
    )
    p.add_argument(
        "--seed", type=int, default=EVAL_SEED, help=f"episode seed (default {EVAL_SEED})"
    )
    p.add_argument("--adapt-steps", type=int, help="override the learner's adaptation steps")
    p.add_argument("--adapt-lr", type=float, help="override the learner's adaptation learning rate")
    p.add_argument(
        "--allow-overlap",
        action="store_true",
        help="score even when the checkpoint's training classes overlap the test alphabets",
    )
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    add_data_args(p)
    add_device_args(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    ckpt, device = load_checkpoint_arg(args)
    if args.episodes < 1:
        return fail("--episodes must be at least 1")
    spec = EpisodeSpec(
        args.ways, args.shots, args.queries, args.within_alphabet, args.within_alphabet
    )
    try:
        bank = load_split(args.data_root, args.split, args.subset, ckpt.learner.config.input_size)
        problem = overlap_problem(ckpt.metadata, bank)
        if problem and not args.allow_overlap:
            return fail(f"refusing to evaluate: {problem} (pass --allow-overlap to score anyway)")
        if problem:
            print(f"WARNING: {problem}; this score is not a fair test", file=sys.stderr)
        results = evaluate_iter(
            ckpt.learner,
            bank,
            spec,
            args.episodes,
            args.seed,
            device,
            args.adapt_steps,
            args.adapt_lr,
        )
        accs = [
            r.accuracy for r in tqdm(results, total=args.episodes, desc="episodes", disable=None)
        ]
    except (ValueError, FileNotFoundError) as exc:
        return fail(str(exc))
    s = summarize(accs)
    if args.json:
        doc = {
            "checkpoint": str(args.checkpoint),
            "algorithm": ckpt.learner.name,
            "split": args.split,
            "subset": args.subset,
            "within_alphabet": args.within_alphabet,
            "ways": args.ways,
            "shots": args.shots,
            "queries": args.queries,
            "episodes": s.episodes,
            "seed": args.seed,
            "accuracy": s.mean,
            "ci95": s.ci95,
        }
        print(json.dumps(doc))
    else:
        mode = ", within-alphabet" if args.within_alphabet else ""
        print(
            f"{ckpt.learner.name} {args.ways}-way {args.shots}-shot on {args.split}/{args.subset}"
            f"{mode}: {100 * s.mean:.2f} % ± {100 * s.ci95:.2f} % (95 % CI, {s.episodes} episodes)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
