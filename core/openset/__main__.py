"""``python -m core.openset``: calibrate a checkpoint's "none of these" answer and report it.

python -m core.openset --checkpoint assets/checkpoints/anil-omniglot.pt --threads 1

1. On the checkpoint's own *validation* classes: ``--episodes`` N-way K-shot episodes (for each
   ``--shots``) whose queries come from the N support classes (known) and from
   ``--unknown-ways`` other validation classes (unknown). Every candidate score is measured;
   the one with the best mean AUROC is kept (or ``--score``), and its threshold per shot count
   accepts ``--true-accept`` of the known queries. Written to ``--out`` (default:
   ``<checkpoint>.openset.json`` next to the checkpoint).
2. On the *test* classes (the fixed seeded episodes of ``core.evaluate``): AUROC, the accuracy
   it costs and the share of unknown queries rejected (``--no-test`` skips it).

``--calibration FILE`` skips step 1 and reports on an existing file.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from pathlib import Path

from tqdm import tqdm

from core.cli import (
    add_checkpoint_arg,
    add_data_args,
    add_device_args,
    add_version_arg,
    fail,
    load_checkpoint_arg,
)
from core.data import load_dataset
from core.data.datasets import split_label, trained_on
from core.evaluate import EVAL_SEED, overlap_problem
from core.openset.calibration import (
    Calibration,
    CalibrationError,
    calibration_path,
    file_sha256,
    load_calibration,
    save_calibration,
)
from core.openset.measure import OpenSetSpec, Pooled, report, score_episodes
from core.openset.score import SCORES, candidate_scores, check_kind

#: Seed of the validation episodes the thresholds are calibrated on (test: core.evaluate's).
CALIBRATION_SEED = 4321


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m core.openset",
        description="Calibrate the open-set answer 'none of these' of a checkpoint on its "
        "validation classes and report its AUROC and accuracy cost on its test classes.",
    )
    add_checkpoint_arg(p)
    add_version_arg(p)
    p.add_argument("--ways", type=int, default=5, help="support classes per episode (default 5)")
    p.add_argument(
        "--unknown-ways",
        type=int,
        default=None,
        help="classes outside the support whose images are queries (default: --ways)",
    )
    p.add_argument("--shots", type=int, nargs="+", default=[1, 5], help="shot counts (default 1 5)")
    p.add_argument("--queries", type=int, default=5, help="queries per class (default 5)")
    p.add_argument(
        "--episodes", type=int, default=300, help="validation episodes per shot count (default 300)"
    )
    p.add_argument(
        "--test-episodes", type=int, default=300, help="test episodes per shot count (default 300)"
    )
    p.add_argument(
        "--true-accept",
        type=float,
        default=0.95,
        help="share of known validation queries to accept (default 0.95)",
    )
    p.add_argument(
        "--score",
        choices=("auto", *SCORES),
        default="auto",
        help="novelty score (default auto: the best validation AUROC among those the learner "
        "supports)",
    )
    p.add_argument("--out", type=Path, default=None, help="calibration file to write")
    p.add_argument(
        "--calibration",
        type=Path,
        default=None,
        help="report on this existing calibration file instead of calibrating",
    )
    p.add_argument("--no-test", action="store_true", help="calibrate only, no test report")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    add_data_args(p)
    add_device_args(p)
    return p


def check_args(args: argparse.Namespace) -> str | None:
    for name in ("ways", "queries", "episodes", "test_episodes"):
        if getattr(args, name) < 1:
            return f"--{name.replace('_', '-')} must be at least 1"
    if args.ways < 2:
        return "--ways must be at least 2 (a task needs two classes)"
    if args.unknown_ways is None:
        args.unknown_ways = args.ways
    if args.unknown_ways < 1:
        return "--unknown-ways must be at least 1"
    if any(k < 1 for k in args.shots):
        return "--shots must be at least 1"
    if not 0 < args.true_accept < 1:
        return "--true-accept must be between 0 and 1 (e.g. 0.95)"
    if args.calibration is not None and args.no_test:
        return "--calibration reports on test classes; it cannot go with --no-test"
    return None


def _pool(learner, bank, spec, count, seed, kinds, device, desc) -> Pooled:
    records = score_episodes(learner, bank, spec, count, seed, kinds, device)
    return Pooled.of(list(tqdm(records, total=count, desc=desc, disable=None)))


def calibrate(args, ckpt, bank, device) -> Calibration:
    learner = ckpt.learner
    kinds = candidate_scores(learner) if args.score == "auto" else (args.score,)
    pooled = {}
    for shots in args.shots:
        spec = OpenSetSpec(args.ways, shots, args.queries, args.unknown_ways)
        desc = f"validation {shots}-shot"
        pooled[shots] = _pool(learner, bank, spec, args.episodes, CALIBRATION_SEED, kinds,
                              device, desc)  # fmt: skip
    aurocs = {k: {kind: pooled[k].auroc(i) for i, kind in enumerate(kinds)} for k in args.shots}
    mean = {kind: sum(aurocs[k][kind] for k in args.shots) / len(args.shots) for kind in kinds}
    score = max(kinds, key=lambda kind: mean[kind])
    column = kinds.index(score)
    thresholds = {k: pooled[k].threshold(column, args.true_accept) for k in args.shots}
    trained = set(ckpt.metadata.get("train_characters", [])) & bank.characters
    info = {
        "checkpoint": Path(args.checkpoint).name,
        "split": args.split,
        "calibration_subset": "val",
        "validation_classes_in_training": len(trained),
        "ways": args.ways,
        "unknown_ways": args.unknown_ways,
        "queries": args.queries,
        "episodes": args.episodes,
        "seed": CALIBRATION_SEED,
        "validation_auroc": {str(k): aurocs[k] for k in args.shots},
        "command": "python -m core.openset " + shlex.join(sys.argv[1:]),
    }
    return Calibration(score, thresholds, args.true_accept, learner.name,
                       file_sha256(args.checkpoint), info)  # fmt: skip


def test_report(args, ckpt, calibration: Calibration, bank, device) -> dict:
    learner = ckpt.learner
    out = {}
    for shots in sorted(calibration.thresholds):
        spec = OpenSetSpec(args.ways, shots, args.queries, args.unknown_ways)
        pooled = _pool(learner, bank, spec, args.test_episodes, EVAL_SEED, (calibration.score,),
                       device, f"test {shots}-shot")  # fmt: skip
        out[str(shots)] = dataclasses.asdict(report(pooled, 0, calibration.thresholds[shots]))
    return out


def summary_line(name: str, where: str, calibration: Calibration, test: dict, args) -> str:
    cells = []
    for shots, r in test.items():
        cells.append(
            f"{shots}-shot: AUROC {r['auroc']:.3f}, accuracy {100 * r['accuracy']:.2f} % -> "
            f"{100 * r['accuracy_with_rejection']:.2f} % with rejection (cost "
            f"{100 * r['cost']:.2f} %), unknown rejected {100 * r['unknown_rejected']:.1f} %"
        )
    return (
        f"{name} open-set on {where} ({args.ways} known + {args.unknown_ways} unknown classes, "
        f"{args.test_episodes} episodes, score {calibration.score}, threshold at "
        f"{100 * calibration.true_accept_rate:.0f} % validation true-accept): " + "; ".join(cells)
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    problem = check_args(args)
    if problem:
        return fail(problem)
    ckpt, device = load_checkpoint_arg(args)
    learner = ckpt.learner
    # (MANN too: the window and these episodes use its N-way K-shot mode, support fed as a
    # sequence, each query classified from the state after it)
    if args.score != "auto":
        try:
            check_kind(args.score, learner)
        except ValueError as exc:
            return fail(str(exc))
    source = trained_on(ckpt.metadata)
    dataset, args.split = source.name, source.split
    root = source.where(args.data_root, args.data_root_given)
    try:
        if args.calibration is not None:
            calibration = load_calibration(args.calibration, args.checkpoint)
            if calibration.algorithm != learner.name:
                return fail(f"{args.calibration}: calibrated for {calibration.algorithm}, "
                            f"not {learner.name}")  # fmt: skip
            check_kind(calibration.score, learner)
        else:
            val = load_dataset(dataset, root, "val", ckpt.preprocess, split=args.split)
            calibration = calibrate(args, ckpt, val, device)
            seen = calibration.info["validation_classes_in_training"]
            if seen:
                print(f"note: {seen} validation classes were in this checkpoint's training set",
                      file=sys.stderr)  # fmt: skip
        test = {}
        if not args.no_test:
            bank = load_dataset(dataset, root, "test", ckpt.preprocess, split=args.split)
            clash = overlap_problem(ckpt.metadata, bank)
            if clash:
                return fail(f"refusing to report on test classes: {clash}")
            test = test_report(args, ckpt, calibration, bank, device)
    except CalibrationError as exc:
        return fail(str(exc))
    except (ValueError, FileNotFoundError) as exc:
        return fail(str(exc).splitlines()[0])
    if args.calibration is None:
        if test:
            info = dict(calibration.info, test=test, test_episodes=args.test_episodes,
                        test_seed=EVAL_SEED)  # fmt: skip
            calibration = dataclasses.replace(calibration, info=info)
        out = args.out or calibration_path(args.checkpoint)
        try:
            save_calibration(out, calibration)
        except OSError as exc:
            return fail(f"cannot write {out}: {exc.strerror or exc}")
    where = f"{split_label(dataset, args.split)}/test"
    if args.json:
        print(json.dumps(dict(calibration.to_json(), test=test)))
    elif test:
        print(summary_line(learner.name, where, calibration, test, args))
    else:
        aurocs = calibration.info.get("validation_auroc", {})
        print(f"{learner.name}: score {calibration.score}, thresholds "
              f"{calibration.thresholds}, validation AUROC {aurocs}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
