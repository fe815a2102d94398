"""``python -m core.evaluate``: accuracy and 95 % confidence interval over fixed, seeded episodes.

python -m core.evaluate --checkpoint assets/checkpoints/protonet-omniglot.pt --ways 5 --shots 1

The dataset (and for Omniglot the split) and the preprocessing come from the checkpoint; flags
override them (``--dataset``, ``--split``, ``--data-root``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from tqdm import tqdm

from core.algorithms import Learner, final_step
from core.cli import (
    add_checkpoint_arg,
    add_data_args,
    add_device_args,
    add_version_arg,
    fail,
    load_checkpoint_arg,
)
from core.data import load_dataset
from core.data.base import only_groups
from core.data.datasets import DATASETS, dataset_kind, resolve_split, split_label, trained_on
from core.data.episodes import EpisodeSpec, episodes
from core.data.splits import SPLITS
from core.data.tta import VIEWS, augmented_support, averaged_probs
from core.files import os_problem
from core.shipped import resolve_checkpoint

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
    dataset,
    spec: EpisodeSpec,
    count: int,
    seed: int = EVAL_SEED,
    device: torch.device | str = "cpu",
    steps: int | None = None,
    lr: float | None = None,
    workers: int = 0,
    tta: str = "none",
    members: Sequence[tuple[Learner, object]] = (),
    transductive: bool = False,
) -> Iterator[EpisodeResult]:
    """Adapt to each of ``count`` seeded episodes of ``dataset`` and yield its query accuracy.

    ``dataset``: any ``core.data`` dataset; ``workers``: DataLoader processes decoding episodes;
    ``tta``: test-time augmentation (``core.data.tta.VIEWS``); ``members``: more ``(learner,
    dataset)`` pairs for an ensemble, each dataset the same classes under its learner's own
    preprocessing (so the same seed draws the same episodes from it); the ensemble averages the
    class probabilities of all learners; ``transductive``: normalise each episode's queries
    with their own BatchNorm statistics (learners with ``capabilities.transductive``, one model,
    no ``tta``).
    """
    if transductive and not learner.capabilities.transductive:
        raise ValueError(
            f"--transductive applies to learners that can normalise a query batch with its own "
            f"BatchNorm statistics (maml, fomaml, anil, metasgd, reptile, metalstm, relation), "
            f"not to {learner.name}"
        )
    if transductive and (members or tta != "none"):
        raise ValueError("--transductive scores one model's own logits: drop --tta / --ensemble")
    everyone = [(learner, dataset), *members]
    for member, _ in everyone:
        member.eval()
    streams = [episodes(ds, spec, count, seed, workers=workers) for _, ds in everyone]
    for i, eps in enumerate(zip(*streams, strict=True)):
        if any(ep.class_names != eps[0].class_names for ep in eps):
            raise ValueError("ensemble members drew different episodes (different datasets)")
        answers = []  # (adapted classifier, its member's view of the query)
        for (member, _), ep in zip(everyone, eps, strict=True):
            ep = ep.to(device)
            support, labels = augmented_support(ep.support, ep.support_labels, tta)
            clf = final_step(member.adapt(support, labels, steps=steps, lr=lr)).classifier
            answers.append((clf, ep.query))
        with torch.no_grad():
            if transductive:  # the query batch's own BatchNorm statistics
                scores = answers[0][0].logits(answers[0][1], transductive=True)
            elif len(answers) == 1 and tta == "none":  # one model: its own logits
                scores = answers[0][0].logits(answers[0][1])
            else:
                scores = sum(averaged_probs(clf, query, tta) for clf, query in answers)
        pred = scores.argmax(1)
        yield EpisodeResult(i, float((pred == eps[0].query_labels.to(pred.device)).float().mean()))


def summarize(accuracies: list[float]) -> Summary:
    """Mean and half-width of the normal 95 % confidence interval."""
    n = len(accuracies)
    acc = torch.tensor(accuracies, dtype=torch.float64)
    std = float(acc.std(unbiased=True)) if n > 1 else 0.0
    return Summary(float(acc.mean()), 1.96 * std / math.sqrt(n), n)


def overlap_problem(metadata: dict, bank) -> str | None:
    """Why scoring this checkpoint on dataset ``bank`` is unfair: it trained on its classes (or,
    for glyphs, on its font families), itself or as a member of a mix (``drawings``)."""
    source = trained_on(metadata)
    data = metadata.get("dataset") if isinstance(metadata.get("dataset"), dict) else {}
    members = data.get("members") if isinstance(data.get("members"), list) else []
    names = {source.name} | {m.get("name") for m in members if isinstance(m, dict)}
    if bank.name not in names:
        return None
    clash = set(metadata.get("train_characters", [])) & bank.characters
    families = set(data.get("families") or []) & set(getattr(bank, "families", ()))
    if not clash and families:  # glyphs: a font family seen in training
        return (
            f"checkpoint was trained on {len(families)} of the font families of {bank.name}/"
            f"{bank.subset} (e.g. {sorted(families)[0]})"
        )
    if not clash:
        return None
    if bank.name != "omniglot":
        return (
            f"checkpoint was trained on {len(clash)} of the test classes of {bank.name}/"
            f"{bank.subset} (e.g. {sorted(clash)[0]})"
        )
    alphabets = sorted({c.split("/")[0] for c in clash})
    return (
        f"checkpoint was trained on {metadata.get('split')}/{metadata.get('subset')}, which holds "
        f"{len(clash)} of the test characters (alphabets: {', '.join(alphabets)})"
    )


#: Presentations of a class at which the sequence protocol scores (Santoro et al., Table 1).
PRESENTATIONS = (1, 2, 3, 5, 10)


def sequence_protocol(args, ckpt, bank, device) -> int:
    """Santoro et al.'s protocol for a memory learner; prints its result, returns the exit code."""
    from core.algorithms.mann import presentation_accuracy

    learner = ckpt.learner
    if learner.capabilities.episode_kind != "sequence":
        return fail(
            f"--protocol sequence tests learners that read episodes as sequences (mann); "
            f"{learner.name} does not"
        )
    spec = EpisodeSpec(args.ways, 1, max(PRESENTATIONS) - 1)  # 10 images of each class
    eps = (ep.to(device) for ep in episodes(bank, spec, args.episodes, args.seed, args.workers))
    with torch.no_grad():
        result = presentation_accuracy(learner, tqdm(eps, total=args.episodes, disable=None),
                                       PRESENTATIONS)  # fmt: skip
    if args.json:
        doc = {
            "checkpoint": str(args.checkpoint), "algorithm": learner.name, "protocol": "sequence",
            "split": args.split, "subset": args.subset, "ways": args.ways,
            "episodes": args.episodes, "seed": args.seed,
            "presentations": list(result.presentations), "accuracy": list(result.accuracy),
            "own_class_reads": result.own_reads, "reads": result.reads,
            "read_peak": result.read_peak, "slots": learner.config.slots,
        }  # fmt: skip
        print(json.dumps(doc))
        return 0
    cells = ", ".join(
        f"{k}: {100 * a:.2f} %" for k, a in zip(result.presentations, result.accuracy, strict=True)
    )
    where = f"{split_label(bank.name, args.split)}/{args.subset}"
    print(f"{learner.name} {args.ways}-way sequences on {where}, "
          f"accuracy by presentation ({args.episodes} sequences): {cells}")  # fmt: skip
    print(
        f"read attention: {100 * result.own_reads:.2f} % of the reads at a 2nd or later "
        f"presentation peak on a slot written by the class itself ({result.reads} reads); "
        f"a head's largest read weight {result.read_peak:.3f} on average "
        f"(uniform over the {learner.config.slots} slots: {1 / learner.config.slots:.3f})"
    )
    return 0


def load_member(path: str, device):
    """An ``--ensemble`` checkpoint; ValueError (one line) when it cannot be one."""
    from core.checkpoint import CheckpointError, load_checkpoint

    try:
        member = load_checkpoint(path, device)
    except CheckpointError as exc:
        raise ValueError(f"--ensemble: {exc}") from None
    if member.learner.capabilities.episode_kind != "episode":
        raise ValueError(f"--ensemble: {path} ({member.learner.name}) does not answer episodes")
    return member


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m core.evaluate",
        description="Mean few-shot accuracy and 95%% confidence interval of a checkpoint over "
        "fixed, seeded test episodes.",
    )
    add_checkpoint_arg(p)
    add_version_arg(p)
    p.add_argument("--ways", type=int, default=5, help="classes per episode (default 5)")
    p.add_argument("--shots", type=int, default=1, help="support examples per class (default 1)")
    p.add_argument("--queries", type=int, default=15, help="query images per class (default 15)")
    p.add_argument("--episodes", type=int, default=1000, help="test episodes (default 1000)")
    p.add_argument(
        "--dataset",
        choices=DATASETS,
        default=None,
        help="dataset to test on (default: the one the checkpoint was trained on)",
    )
    p.add_argument(
        "--split",
        choices=SPLITS,
        default=None,
        help="Omniglot class split (default: the checkpoint's, else vinyals)",
    )
    p.add_argument("--subset", default="test", help="subset of the split (default test)")
    p.add_argument(
        "--groups",
        nargs="+",
        default=None,
        metavar="GROUP",
        help="only the classes of these groups: Omniglot alphabets, glyph scripts (e.g. "
        "--dataset glyphs --groups Latin Digits Greek Cyrillic Symbols)",
    )
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
    p.add_argument(
        "--workers", type=int, default=0, help="DataLoader processes decoding episodes (default 0)"
    )
    p.add_argument(
        "--protocol",
        choices=("episodes", "sequence"),
        default="episodes",
        help="episodes: N-way K-shot accuracy; sequence: Santoro et al.'s test of memory "
        "learners (mann): --ways-class sequences of 10 images per class, accuracy at the 1st, "
        "2nd, 3rd, 5th and 10th presentation of each class (--shots/--queries unused)",
    )
    p.add_argument(
        "--tta",
        choices=tuple(VIEWS),
        default="none",
        help="test-time augmentation: every support image also as fixed shifted (shift) or "
        "shifted, rotated and scaled (affine) views, query probabilities averaged over the "
        "same views (default none)",
    )
    p.add_argument(
        "--ensemble",
        nargs="+",
        default=[],
        type=resolve_checkpoint,
        metavar="CHECKPOINT",
        help="more checkpoints whose class probabilities are averaged with --checkpoint's (each "
        "on the same episodes, under its own preprocessing)",
    )
    p.add_argument(
        "--transductive",
        action="store_true",
        help="normalise each episode's queries with their own BatchNorm statistics, the MAML, "
        "Reptile and Relation Networks papers' test protocol (gradient learners and relation; "
        "default: the support set's or the running statistics, so each query is classified on "
        "its own as in the window)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    add_data_args(p)
    add_device_args(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    ckpt, device = load_checkpoint_arg(args)
    for name in ("ways", "shots", "queries", "episodes"):
        if getattr(args, name) < 1:
            return fail(f"--{name} must be at least 1")
    if args.ways < 2:
        return fail("--ways must be at least 2 (a task needs two classes)")
    if args.workers < 0:
        return fail("--workers must not be negative")
    source = trained_on(ckpt.metadata)
    dataset = args.dataset or source.name
    if dataset == source.name:
        root = source.where(args.data_root, args.data_root_given)
        args.split = args.split or source.split
    else:
        root = args.data_root
    if dataset_kind(dataset).has_root and not args.data_root_given and root == args.data_root:
        return fail(f"--dataset {dataset} needs --data-root DIR: a folder of class sub-folders")
    try:
        args.split = resolve_split(dataset, root, args.split)
    except ValueError as exc:
        return fail(str(exc))
    spec = EpisodeSpec(
        args.ways, args.shots, args.queries, args.within_alphabet, args.within_alphabet
    )
    try:
        others = [load_member(path, device) for path in args.ensemble]
    except ValueError as exc:
        return fail(str(exc))
    if others and args.protocol == "sequence":
        return fail("--ensemble averages N-way K-shot answers; --protocol sequence takes one")
    if args.transductive and args.protocol == "sequence":
        return fail("--transductive needs a batch of queries; --protocol sequence has none")
    try:
        banks = {}  # one bank per preprocessing: the members' episodes are the same draws
        for member in (ckpt, *others):
            if member.preprocess not in banks:
                banks[member.preprocess] = load_dataset(
                    dataset, root, args.subset, member.preprocess, split=args.split
                )
                if args.groups:
                    banks[member.preprocess] = only_groups(banks[member.preprocess], args.groups)
            problem = overlap_problem(member.metadata, banks[member.preprocess])
            if problem and not args.allow_overlap:
                return fail(
                    f"refusing to evaluate: {problem} (pass --allow-overlap to score anyway)"
                )
            if problem:
                print(f"WARNING: {problem}; this score is not a fair test", file=sys.stderr)
        bank = banks[ckpt.preprocess]
        if args.protocol == "sequence":
            return sequence_protocol(args, ckpt, bank, device)
        results = evaluate_iter(
            ckpt.learner,
            bank,
            spec,
            args.episodes,
            args.seed,
            device,
            args.adapt_steps,
            args.adapt_lr,
            args.workers,
            args.tta,
            [(m.learner, banks[m.preprocess]) for m in others],
            args.transductive,
        )
        accs = [
            r.accuracy for r in tqdm(results, total=args.episodes, desc="episodes", disable=None)
        ]
    except (ValueError, FileNotFoundError, ArithmeticError) as exc:  # AdaptationDiverged too
        return fail(str(exc))
    except OSError as exc:  # an unreadable data folder
        return fail(os_problem(exc))
    s = summarize(accs)
    if args.json:
        doc = {
            "checkpoint": str(args.checkpoint),
            "algorithm": ckpt.learner.name,
            "dataset": dataset,
            "split": args.split,
            "subset": args.subset,
            "groups": args.groups,
            "within_alphabet": args.within_alphabet,
            "tta": args.tta,
            "transductive": args.transductive,
            "ensemble": [str(p) for p in args.ensemble],
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
        mode += f", groups {' '.join(args.groups)}" if args.groups else ""
        mode += f", test-time augmentation {args.tta}" if args.tta != "none" else ""
        mode += f", ensemble of {1 + len(others)} checkpoints" if others else ""
        mode += ", transductive" if args.transductive else ""
        print(
            f"{ckpt.learner.name} {args.ways}-way {args.shots}-shot on "
            f"{split_label(dataset, args.split)}/{args.subset}"
            f"{mode}: {100 * s.mean:.2f} % ± {100 * s.ci95:.2f} % (95 % CI, {s.episodes} episodes)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
