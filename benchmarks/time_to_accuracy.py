"""Time to accuracy: ours against easyfsl's Prototypical Networks, side by side in one run.

    pip install easyfsl   # benchmark-only peer, like higher and torchopt
    METAGUI_DATA=../shared/data python benchmarks/time_to_accuracy.py --minutes 20 --threads 2 \\
        --out runs/tta [--ours "--ways 60 --shots 1 --queries 5 --lr-step 2000"]

Both train a Conv-4 ProtoNet on the Vinyals train+val classes (28 px) with the same thread count,
in alternating slices of ``--slice`` seconds of wall time so that both meet the same machine load;
each side's clock counts its own slices only. Every ``--eval-every`` minutes of its own training,
each is evaluated (clock stopped) on the same fixed Vinyals test episodes, 5-way 1-shot and 20-way
1-shot with 15 queries (``core.evaluate``'s seeded episodes). easyfsl runs as its users write it:
``PrototypicalNetworks`` around a plain Conv-4, its ``TaskSampler`` and a ``DataLoader``,
60-way 1-shot 5-query episodes, Adam 1e-3 halved every 2,000 episodes. Ours is ``core.train``'s
``Trainer`` with the flags of ``--ours``.

Prints minutes to reach each accuracy of the ladder and writes ``curves.csv`` and ``curves.png``
into ``--out``.
"""

from __future__ import annotations

import argparse
import csv
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from core.algorithms import build_learner
from core.algorithms.protonet import ProtoNetConfig
from core.checkpoint import save_checkpoint
from core.data.episodes import EpisodeSpec, episodes
from core.data.paths import data_root
from core.data.splits import load_split
from core.device import keep_freed_memory
from core.evaluate import evaluate_iter, summarize
from core.train import run_metadata
from core.training.config import TrainConfig
from core.training.trainer import Trainer

LADDER = {"5w1s": (98.0, 98.5, 98.8), "20w1s": (94.0, 95.0, 96.0)}
SETTINGS = {"5w1s": EpisodeSpec(5, 1, 15), "20w1s": EpisodeSpec(20, 1, 15)}


@dataclass
class Side:
    """One contender: ``train_for(seconds)`` trains on, ``evaluate()`` gives accuracies."""

    name: str
    train_for: Callable[[float], int]
    evaluate: Callable[[], dict[str, float]]
    seconds: float = 0.0
    episodes: int = 0
    curve: list[dict] = field(default_factory=list)
    flags: str = "easyfsl's recipe"
    budget: float = 0.0  # seconds of training
    save: Callable[[Path, dict], None] | None = None  # ours: write the model as a checkpoint


def ours(args, name: str, flags: str, trainval, val, test_banks) -> Side:
    words = shlex.split(flags)
    amp = None
    if "--amp" in words:  # core.train's --amp (bf16 autocast on the CPU)
        at = words.index("--amp")
        amp = words[at + 1]
        del words[at : at + 2]
    train_flags, learner_flags = _parse_flags(words)
    fixed = {"train_subset": "trainval", "episodes": 10**9, "val_every": 10**9}  # no validation
    config = TrainConfig(**{**TrainConfig().__dict__, **train_flags, **fixed})
    torch.manual_seed(config.seed)
    learner = build_learner("protonet", learner_flags)
    trainer = Trainer(config, learner, trainval, val, torch.device("cpu"), amp=amp)
    steps = trainer.run()

    def train_for(seconds: float) -> int:
        end, done = time.monotonic() + seconds, 0
        while time.monotonic() < end:
            next(steps)
            done += 1
        return done

    def evaluate() -> dict[str, float]:
        return {k: _accuracy(evaluate_iter(learner, test_banks[k], SETTINGS[k], args.episodes))
                for k in SETTINGS}  # fmt: skip

    command = "python benchmarks/time_to_accuracy.py " + shlex.join(sys.argv[1:])
    meta = run_metadata(learner, trainval.preprocess, trainval, config, command)

    def save(path: Path, row: dict) -> None:
        """The model as a checkpoint, with core.train's metadata and this evaluation."""
        tested = {f"vinyals_test_{k}": row[k] / 100 for k in SETTINGS}
        metrics = tested | {"test_episodes": args.episodes, "learner": "protonet"}
        save_checkpoint(path, learner, meta | {
            "step": trainer.step, "train_seconds": 60 * row["minutes"], "metrics": metrics
        })  # fmt: skip

    return Side(name, train_for, evaluate, flags=flags, save=save)


def _parse_flags(words: list[str]) -> tuple[dict, dict]:
    """``--ways 60 --distance euclidean`` -> (TrainConfig fields, ProtoNetConfig fields)."""
    train, learner = {}, {}
    kinds = {k: type(v) for k, v in TrainConfig().__dict__.items()}
    kinds |= {k: type(v) for k, v in ProtoNetConfig().__dict__.items()}
    for flag, value in zip(words[::2], words[1::2], strict=True):
        name = flag.removeprefix("--").replace("-", "_")
        if name not in kinds:
            raise SystemExit(f"--ours: unknown flag {flag}")
        target = train if name in TrainConfig.__dataclass_fields__ else learner
        target[name] = kinds[name](value)
    return train, learner


def conv4() -> nn.Module:
    """The Conv-4 an easyfsl user writes (4 x conv-BN-ReLU-pool, flattened)."""

    def block(cin: int) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(cin, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2)
        )

    return nn.Sequential(block(1), block(64), block(64), block(64), nn.Flatten())


class _Images(torch.utils.data.Dataset):
    """Our decoded Omniglot bank as the labelled dataset easyfsl's TaskSampler wants."""

    def __init__(self, bank) -> None:
        self.images = bank.images.reshape(-1, *bank.images.shape[2:])
        self.labels = torch.arange(bank.n_classes).repeat_interleave(bank.images.shape[1])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.images[i].float() / 255.0, int(self.labels[i])

    def get_labels(self) -> list[int]:
        return self.labels.tolist()


def easyfsl(args, trainval, test_banks) -> Side:
    from easyfsl.methods import PrototypicalNetworks
    from easyfsl.samplers import TaskSampler

    torch.manual_seed(0)
    model = PrototypicalNetworks(conv4())
    data = _Images(trainval)
    # easyfsl 1.5 calls Sampler.__init__(data_source=None), which torch >= 2.2 no longer takes
    original, torch.utils.data.Sampler.__init__ = torch.utils.data.Sampler.__init__, _ignore
    try:
        sampler = TaskSampler(data, n_way=60, n_shot=1, n_query=5, n_tasks=10**9)
    finally:
        torch.utils.data.Sampler.__init__ = original
    loader = torch.utils.data.DataLoader(
        data, batch_sampler=sampler, collate_fn=sampler.episodic_collate_fn
    )
    tasks = iter(loader)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 2000, 0.5)

    def train_for(seconds: float) -> int:
        model.train()
        end, done = time.monotonic() + seconds, 0
        while time.monotonic() < end:
            s, sl, q, ql, _ = next(tasks)
            model.process_support_set(s, sl)
            loss = F.cross_entropy(model(q), ql)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            done += 1
        return done

    @torch.no_grad()
    def accuracy(spec: EpisodeSpec, bank) -> float:
        model.eval()
        accs = []
        for ep in episodes(bank, spec, args.episodes, 1234):
            model.process_support_set(ep.support, ep.support_labels)
            accs.append(float((model(ep.query).argmax(1) == ep.query_labels).float().mean()))
        return 100 * summarize(accs).mean

    def evaluate() -> dict[str, float]:
        return {k: accuracy(SETTINGS[k], test_banks[k]) for k in SETTINGS}

    return Side("easyfsl", train_for, evaluate)


def _ignore(self, *args, **kwargs) -> None:
    pass


def _accuracy(results) -> float:
    return 100 * summarize([r.accuracy for r in results]).mean


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=20, help="training minutes per side")
    p.add_argument(
        "--easyfsl-minutes",
        type=float,
        default=None,
        help="easyfsl's training minutes, when not --minutes (ours must reach its levels in "
        "half its time: ours can stop earlier)",
    )
    p.add_argument("--eval-every", type=float, default=2.5, help="minutes between evaluations")
    p.add_argument("--slice", type=float, default=15, help="seconds per alternating slice")
    p.add_argument("--episodes", type=int, default=1000, help="test episodes per evaluation")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--ours",
        action="append",
        help="our flags (core.train's and protonet's); repeat to race several recipes side by "
        "side (default: --ways 60 --shots 1 --queries 5 --lr-step 2000)",
    )
    p.add_argument("--no-easyfsl", action="store_true", help="race our recipes only")
    p.add_argument(
        "--keep",
        action="store_true",
        help="also save our models at each evaluation as OUT/<side>-<minutes>min.pt "
        "(for core.evaluate's --tta or other settings later)",
    )
    p.add_argument("--out", type=Path, default=Path("runs/time_to_accuracy"))
    p.add_argument(
        "--from-log",
        type=Path,
        default=None,
        help="no training: the ladder, curves.csv and curves.png from the printed rows of an "
        "earlier (possibly interrupted) run's output",
    )
    args = p.parse_args()
    if args.from_log is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        report(sides_from_log(args.from_log.read_text()), args.out)
        return
    args.ours = args.ours or ["--ways 60 --shots 1 --queries 5 --lr-step 2000"]
    torch.set_num_threads(args.threads)
    keep_freed_memory()
    root = data_root()
    trainval = load_split(root, "vinyals", "trainval")
    val = load_split(root, "vinyals", "val")
    test = load_split(root, "vinyals", "test")
    banks = dict.fromkeys(SETTINGS, test)
    names = ["ours"] if len(args.ours) == 1 else [f"ours {k + 1}" for k in range(len(args.ours))]
    sides = [ours(args, n, f, trainval, val, banks) for n, f in zip(names, args.ours, strict=True)]
    if not args.no_easyfsl:
        sides.append(easyfsl(args, trainval, banks))
    for s in sides:
        print(f"{s.name}: {s.flags}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    every = 60 * args.eval_every
    for s in sides:
        peer = s.name == "easyfsl" and args.easyfsl_minutes
        s.budget = 60 * (args.easyfsl_minutes if peer else args.minutes)
    while any(s.seconds < s.budget for s in sides):
        for s in (s for s in sides if s.seconds < s.budget):
            due = min(every * (len(s.curve) + 1), s.budget)
            start = time.monotonic()
            s.episodes += s.train_for(min(args.slice, due - s.seconds))
            s.seconds += time.monotonic() - start
            if s.seconds >= due:
                row = {"side": s.name, "minutes": s.seconds / 60, "episodes": s.episodes}
                row.update(s.evaluate())
                s.curve.append(row)
                if args.keep and s.save is not None:
                    name = f"{s.name.replace(' ', '')}-{round(row['minutes'])}min.pt"
                    s.save(args.out / name, row)
                print(", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}"
                                for k, v in row.items()), flush=True)  # fmt: skip
    report(sides, args.out)


def sides_from_log(text: str) -> list[Side]:
    """The curves of the ``side NAME, minutes M, episodes E, 5w1s A, 20w1s B`` rows printed by
    a run."""
    sides: dict[str, Side] = {}
    for line in text.splitlines():
        if not line.startswith("side "):
            continue
        cells = dict(cell.split(" ", 1) for cell in line.split(", "))
        side = sides.setdefault(cells["side"], Side(cells["side"], None, None))
        row = {"side": side.name, "minutes": float(cells["minutes"])}
        row["episodes"] = side.episodes = int(cells["episodes"])
        row.update({k: float(cells[k]) for k in SETTINGS})
        side.curve.append(row)
    return list(sides.values())


def report(sides: list[Side], out: Path) -> None:
    rows = [row for s in sides for row in s.curve]
    with (out / "curves.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print("\nminutes to reach (first evaluation at or above; - = not within the budget)")
    print(f"{'setting':8} {'level':>6} " + " ".join(f"{s.name:>8}" for s in sides))
    for setting, levels in LADDER.items():
        for level in levels:
            cells = []
            for s in sides:
                hit = next((r["minutes"] for r in s.curve if r[setting] >= level), None)
                cells.append(f"{hit:8.1f}" if hit is not None else f"{'-':>8}")
            print(f"{setting:8} {level:6.1f} " + " ".join(cells))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, setting in zip(axes, SETTINGS, strict=True):
        for s in sides:
            ax.plot([r["minutes"] for r in s.curve], [r[setting] for r in s.curve], "o-",
                    label=f"{s.name} ({s.episodes} episodes)")  # fmt: skip
        ax.set(title=f"Vinyals test, {setting}", xlabel="training minutes", ylabel="accuracy %")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=100)


if __name__ == "__main__":
    main()
