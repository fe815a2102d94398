"""The settings of a training run (``TrainConfig``), their command-line flags and their checks."""

from __future__ import annotations

import argparse
import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

from core.algorithms import ALGORITHMS
from core.bounds import flag
from core.cli import add_data_args, add_device_args, add_version_arg
from core.data.augment import AUGMENTATIONS
from core.data.datasets import DATASETS
from core.data.splits import SPLITS, SUBSETS
from core.training.presets import PRESETS

OPTIMIZERS = ("adam", "sgd")
LR_SCHEDULES = ("step", "linear")


@dataclass(frozen=True)
class TrainConfig:
    algorithm: str = field(default="protonet", metadata={"help": "learner to meta-train"})
    dataset: str = field(
        default="omniglot",
        metadata={
            "help": "image collection: omniglot, miniimagenet, cifar-fs, folder (a folder of "
            "class sub-folders given by --data-root), glyphs (characters drawn from fonts), "
            "kanjivg (KanjiVG strokes) or drawings (omniglot lake + glyphs + kanjivg)",
            "choices": DATASETS,
        },
    )
    split: str = field(
        default="vinyals",
        metadata={"help": "Omniglot class split: vinyals or lake", "choices": SPLITS},
    )
    train_subset: str = field(
        default="train", metadata={"help": "subset trained on", "choices": SUBSETS}
    )
    val_subset: str = field(
        default="val", metadata={"help": "subset validated on", "choices": SUBSETS}
    )
    ways: int = field(default=60, metadata={"help": "classes per training episode"})
    shots: int = field(default=5, metadata={"help": "support images per class (training)"})
    queries: int = field(default=5, metadata={"help": "query images per class (training)"})
    vary_shots: bool = field(
        default=False,
        metadata={
            "help": "each training episode keeps a random 1..--shots of its support images per "
            "class, so one checkpoint learns every shot count (a learner that meets only 1-shot "
            "classes can get worse with more examples)",
        },
    )
    meta_batch: int = field(default=1, metadata={"help": "episodes per meta-update"})
    episodes: int = field(default=20000, metadata={"help": "total meta-updates to run"})
    optimizer: str = field(
        default="adam",
        metadata={
            "help": "outer-loop optimiser (sgd with --lr 1 is Reptile's paper update)",
            "choices": OPTIMIZERS,
        },
    )
    lr: float = field(default=1e-3, metadata={"help": "learning rate of the outer loop"})
    lr_schedule: str = field(
        default="step",
        metadata={
            "help": "step: multiply by --lr-gamma every --lr-step steps; "
            "linear: anneal to 0 at --episodes (Reptile's schedule)",
            "choices": LR_SCHEDULES,
        },
    )
    lr_step: int = field(default=4000, metadata={"help": "decay the learning rate every N steps"})
    lr_gamma: float = field(default=0.5, metadata={"help": "learning-rate decay factor"})
    backbone_lr: float = field(
        default=1.0,
        metadata={
            "help": "the backbone's learning rate as a fraction of --lr (e.g. 0.1 when it starts "
            "from --init-backbone and the rest is new); 1: one rate for all"
        },
    )
    val_every: int = field(default=500, metadata={"help": "validate and checkpoint every N steps"})
    keep_every: int = field(
        default=0,
        metadata={
            "help": "also keep the weights at every multiple of N steps as step-N.pt (a multiple "
            "of --val-every; 0: only best.pt and last.pt), e.g. to average them with core.average",
        },
    )
    val_episodes: int = field(default=300, metadata={"help": "fixed validation episodes"})
    val_ways: int = field(default=20, metadata={"help": "classes per validation episode"})
    val_shots: int = field(default=1, metadata={"help": "support images per validation class"})
    val_queries: int = field(default=5, metadata={"help": "queries per validation class"})
    within_alphabet: bool = field(
        default=False,
        metadata={
            "help": "training episodes of one alphabet each, support and queries from drawers "
            "shared by all classes (Lake's one-shot test task; Omniglot)",
        },
    )
    val_within_alphabet: bool = field(
        default=False,
        metadata={"help": "validation episodes of one alphabet each, as --within-alphabet"},
    )
    seed: int = field(default=0, metadata={"help": "seed of weights and training episodes"})
    augment: str = field(
        default="none",
        metadata={
            "help": "training-time augmentation of episode images: affine = random rotation, "
            "shift, scale and shear per image; drawing = stroke width, small affine and elastic "
            "distortions per image (ink drawings); never at evaluation",
            "choices": tuple(AUGMENTATIONS),
        },
    )
    init_backbone: str = field(
        default="",
        metadata={
            "help": "start the backbone from this checkpoint's backbone (same architecture and "
            "input; between gradient learners the head row too; from the same learner the whole "
            "network, to fine-tune it); its training classes count as this run's (evaluation's "
            "overlap check)",
        },
    )

    def __post_init__(self) -> None:
        # runs saved before --dataset existed were Omniglot runs
        if self.dataset not in DATASETS:
            raise ValueError(
                f"unknown dataset {self.dataset!r}; choose one of {', '.join(DATASETS)}"
            )


#: Settings that may differ between a run and its ``--resume`` (the run's identity is the rest).
RESUMABLE = frozenset({"episodes"})
#: Positive whole numbers, by field name.
AT_LEAST_ONE = (
    "ways", "shots", "queries", "episodes", "meta_batch", "val_every", "val_episodes",
    "val_ways", "val_shots", "val_queries", "lr_step",
)  # fmt: skip


def problem(config: TrainConfig) -> str | None:
    """Why ``config`` cannot train, as a one-line message, or None."""
    for name in AT_LEAST_ONE:
        if getattr(config, name) < 1:
            return f"{flag(name)} must be at least 1"
    if config.ways < 2 or config.val_ways < 2:
        return "--ways and --val-ways must be at least 2 (a task needs two classes)"
    if config.keep_every < 0 or config.keep_every % config.val_every:
        return "--keep-every must be 0 or a multiple of --val-every"
    if not (math.isfinite(config.lr) and config.lr > 0):
        return "--lr must be a positive number"
    if not (math.isfinite(config.lr_gamma) and config.lr_gamma > 0):
        return "--lr-gamma must be a positive number"
    if not (math.isfinite(config.backbone_lr) and 0 < config.backbone_lr <= 1):
        return "--backbone-lr must be a fraction of --lr in (0, 1]"
    return None


def add_dataclass_args(group, cls, defaults: bool) -> None:
    """One flag per dataclass field: ``--field-name``; bool fields become ``--x/--no-x``;
    ``metadata["choices"]`` restricts the values."""
    for f in dataclasses.fields(cls):
        type_name = f.type if isinstance(f.type, str) else f.type.__name__
        kind = {"int": int, "float": float}.get(type_name, str)
        help_text = f"{f.metadata.get('help', '')} (default {f.default})"
        default = f.default if defaults else None
        if type_name == "bool":
            action = argparse.BooleanOptionalAction
            group.add_argument(flag(f.name), action=action, default=default, help=help_text)
        elif f.name == "algorithm":
            choices = list(ALGORITHMS)
            group.add_argument(flag(f.name), choices=choices, default=default, help=help_text)
        elif "choices" in f.metadata:
            choices = f.metadata["choices"]
            group.add_argument(flag(f.name), choices=choices, default=default, help=help_text)
        else:
            group.add_argument(flag(f.name), type=kind, default=default, help=help_text)


def build_parser(algorithm: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m core.train",
        allow_abbrev=False,  # every flag spelled out: --resume compares the flags given
        description="Meta-train a few-shot learner on Omniglot, MiniImageNet, CIFAR-FS or a folder "
        "of class sub-folders, with any backbone. Algorithm-specific options (backbone, "
        "input size, inner loop, ...) are listed for the chosen --algorithm "
        "(try --algorithm NAME --help).",
    )
    add_version_arg(p)
    add_dataclass_args(p.add_argument_group("training"), TrainConfig, defaults=True)
    _, config_cls = ALGORITHMS[algorithm]
    add_dataclass_args(p.add_argument_group(f"{algorithm} options"), config_cls, defaults=False)
    p.add_argument(
        "--preset",
        choices=tuple(PRESETS),
        default=None,
        help="a named recipe (flags given after it win): " + ", ".join(PRESETS),
    )
    p.add_argument("--out", type=Path, default=None, help="run folder (default runs/<algorithm>)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its last.pt with its own settings (give "
        "--episodes to train longer; other settings that differ from the run's are refused)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="start a new run in an --out that holds one, removing its checkpoints and logs "
        "(without it such a folder is refused: continue it with --resume)",
    )
    p.add_argument(
        "--max-minutes",
        type=float,
        default=None,
        help="stop after this much wall time (validating and saving at the step reached); "
        "continue later with --resume",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=0,
        help="DataLoader worker processes decoding episodes of image-file datasets "
        "(miniimagenet, folder); the same seed gives the same episodes for any count (default 0)",
    )
    p.add_argument(
        "--amp",
        choices=("bf16", "fp16"),
        default=None,
        help="mixed precision for metric and first-order learners (fp16 with a loss scaler; "
        "second-order MAML stays in float32)",
    )
    p.add_argument(
        "--dist-timeout",
        type=float,
        default=1800.0,
        help="under torchrun: seconds a collective waits for the other processes before the "
        "run stops with a message (default 1800; rank 0 validates meanwhile)",
    )
    add_data_args(p)
    add_device_args(p)
    return p


def explicit_flags(parser: argparse.ArgumentParser, argv: list[str]) -> set[str]:
    """Names (``dest``) of the options given on the command line ``argv``."""
    given = set()
    for action in parser._actions:  # argparse offers no public walk over its actions
        if any(a == s or a.startswith(s + "=") for a in argv for s in action.option_strings):
            given.add(action.dest)
    return given
