"""ProtoNet and MAML step times for Conv-4 against ResNet-12 on MiniImageNet-shaped episodes.

    .venv/bin/python benchmarks/backbone_speed.py     # 3x84x84, 5-way 1-shot 15-query, 1 thread

Random images of the MiniImageNet shape (no dataset needed): the cost depends on shapes only.
Per backbone: a ProtoNet training step (one episode, forward + backward + Adam) and an
evaluation episode (no grad); a MAML meta-step (one task, ``--inner-steps`` SGD steps, second and
first order); test-time adaptation (``--adapt-steps`` steps on the support set, then the 75
queries). Conv-4 runs MAML on its hand-tuned fast path, ResNet-12 on the generic
``torch.func.functional_call`` path. The backbones alternate within each repeat, so a load
change on a shared machine hits both alike; medians of wall-clock seconds are printed.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from core.algorithms import build_learner, final_step
from core.data.episodes import Episode
from core.device import keep_freed_memory

BACKBONES = ("conv4", "resnet12")


def make_episode(ways: int, shots: int, queries: int, size: int, seed: int) -> Episode:
    gen = torch.Generator().manual_seed(seed)
    return Episode(
        torch.rand(ways * shots, 3, size, size, generator=gen),
        torch.arange(ways).repeat_interleave(shots),
        torch.rand(ways * queries, 3, size, size, generator=gen),
        torch.arange(ways).repeat_interleave(queries),
        tuple(str(i) for i in range(ways)),
    )


def cases(backbone: str, ep: Episode, args: argparse.Namespace) -> dict[str, Callable[[], object]]:
    """The timed operations for one backbone, by name."""
    shape = {"backbone": backbone, "in_channels": 3, "input_size": args.size}
    torch.manual_seed(0)
    proto = build_learner("protonet", shape)
    proto_opt = torch.optim.Adam(proto.parameters(), lr=1e-3)
    out: dict[str, Callable[[], object]] = {}

    def proto_train() -> object:
        proto.train()
        return proto.meta_step([ep], proto_opt)

    def proto_eval() -> object:
        proto.eval()
        with torch.no_grad():
            return proto.episode_logits(ep)

    out["ProtoNet training step"] = proto_train
    out["ProtoNet evaluation episode"] = proto_eval
    for first_order in (False, True):
        maml = build_learner(
            "maml", {**shape, "inner_steps": args.inner_steps, "first_order": first_order}
        )
        with torch.no_grad():  # a non-zero head row, as after meta-training
            maml.head.weight.normal_(0, 0.01)
        opt = torch.optim.Adam(maml.parameters(), lr=1e-3)
        name = "FOMAML" if first_order else "MAML 2nd order"
        out[f"{name} meta-step ({args.inner_steps} steps)"] = lambda maml=maml, opt=opt: (
            maml.meta_step([ep], opt)
        )
    adapt = build_learner("maml", shape).eval()

    def adaptation() -> object:
        clf = final_step(adapt.adapt(ep.support, ep.support_labels, steps=args.adapt_steps))
        return clf.classifier.logits(ep.query)

    out[f"MAML adaptation ({args.adapt_steps} steps + predict)"] = adaptation
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--size", type=int, default=84, help="image side (MiniImageNet: 84)")
    p.add_argument("--ways", type=int, default=5)
    p.add_argument("--shots", type=int, default=1)
    p.add_argument("--queries", type=int, default=15)
    p.add_argument("--inner-steps", type=int, default=5)
    p.add_argument("--adapt-steps", type=int, default=10)
    p.add_argument("--repeats", type=int, default=1, help="timed runs per operation (median)")
    args = p.parse_args(argv)
    keep_freed_memory()
    torch.set_num_threads(args.threads)
    ep = make_episode(args.ways, args.shots, args.queries, args.size, seed=0)
    print(
        f"torch {torch.__version__}, {args.threads} thread(s), 3x{args.size}x{args.size}, "
        f"{args.ways}-way {args.shots}-shot {args.queries}-query, float32, "
        f"median of {args.repeats} (after one warm-up for conv4)"
    )
    ops = {b: cases(b, ep, args) for b in BACKBONES}
    for fn in ops["conv4"].values():
        fn()  # warm-up (cheap); ResNet-12's first call is timed, its cost dwarfs the set-up
    names = list(ops["conv4"])
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.repeats):
        for name in names:
            for b in BACKBONES:
                start = time.perf_counter()
                ops[b][name]()
                times.setdefault((b, name), []).append(time.perf_counter() - start)
    print(f"{'operation':<42} {'conv4 s':>9} {'resnet12 s':>11} {'ratio':>7}")
    for name in names:
        c4, r12 = (statistics.median(times[(b, name)]) for b in BACKBONES)
        print(f"{name:<42} {c4:9.3f} {r12:11.2f} {r12 / c4:6.0f}x")


if __name__ == "__main__":
    main()
