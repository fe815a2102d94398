"""Time per meta-step of MAML (2nd and 1st order): ours versus ``higher`` and ``torchopt``.

    .venv/bin/pip install -e '.[bench]'        # higher, torchopt (benchmark-only)
    .venv/bin/python benchmarks/maml_speed.py  # 5-way 1-shot 15-query, 5 steps, 32 tasks, 2 threads

Every implementation computes the same function (Conv-4 with batch-statistics BatchNorm, queries
normalised with the support statistics, the head row repeated for each class, SGD inner loop),
starts from the same weights and sees the same episodes; the script checks that their
meta-gradients agree (``allclose``) before timing. Peers that are not installed are skipped.

Figures: median wall-clock seconds and CPU seconds (``time.process_time``, all threads) per
meta-step. On a machine shared with other jobs, CPU seconds are the steadier measure; ratios
are printed for both. Also: test-time adaptation latency (5-way 5-shot, 10 steps + predict).

"ours, generic path" is the same learner with ``fast_path = False``: ``torch.func.functional_call``
on the Conv-4 module (what every other backbone uses) instead of the hand-tuned Conv-4 forward.
``--paths-only`` times just those two (meta-steps and adaptation), side by side.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from core.algorithms import build_learner, final_step
from core.algorithms.gradient import GradientLearner
from core.algorithms.head import HEAD_B, HEAD_W
from core.data.episodes import Episode
from core.device import keep_freed_memory

Grads = dict[str, torch.Tensor]


def make_episodes(count: int, ways: int, shots: int, queries: int, seed: int) -> list[Episode]:
    gen = torch.Generator().manual_seed(seed)

    def one() -> Episode:
        return Episode(
            torch.rand(ways * shots, 1, 28, 28, generator=gen),
            torch.arange(ways).repeat_interleave(shots),
            torch.rand(ways * queries, 1, 28, 28, generator=gen),
            torch.arange(ways).repeat_interleave(queries),
            tuple(str(i) for i in range(ways)),
        )

    return [one() for _ in range(count)]


class PeerNet(nn.Module):
    """The same network as a plain ``nn.Module`` (what higher/torchopt users write): the
    learner's Conv-4 module and an ``n_way``-row linear head initialised from the shared row."""

    def __init__(self, learner: GradientLearner, n_way: int, nhwc: bool = False) -> None:
        super().__init__()
        self.nhwc = nhwc  # apply our layout fix (NHWC after every conv) to the peer too
        self.backbone = copy.deepcopy(learner.backbone)
        self.head = nn.Linear(self.backbone.out_features, n_way)
        with torch.no_grad():
            self.head.weight.copy_(learner.head.weight.expand(n_way, -1))
            self.head.bias.copy_(learner.head.bias.expand(n_way))
        self.to(learner.head.weight.dtype)

    def forward(self, x: torch.Tensor, n_stats: int | None = None) -> torch.Tensor:
        h = x.contiguous(memory_format=torch.channels_last)
        for block in self.backbone.encoder:
            conv, bn = block[0], block[1]
            h = conv(h)
            if self.nhwc:
                h = h.contiguous(memory_format=torch.channels_last)
            if n_stats is None:
                h = F.batch_norm(h, None, None, bn.weight, bn.bias, training=True)
            else:  # normalise with the statistics of the first n_stats rows (the support set)
                ref = h[:n_stats]
                mean = ref.mean((0, 2, 3), keepdim=True)
                var = ref.var((0, 2, 3), unbiased=False, keepdim=True)
                h = (h - mean) * torch.rsqrt(var + bn.eps) * bn.weight.view(1, -1, 1, 1)
                h = h + bn.bias.view(1, -1, 1, 1)
            h = F.max_pool2d(F.relu(h), 2)
        return self.head(h.flatten(1))


def peer_grads(net: PeerNet) -> Grads:
    """Gradients by our parameter names (the head rows summed back onto the shared row)."""
    out = {}
    for k, p in net.named_parameters():
        g = p.grad
        out[k] = g.sum(0, keepdim=True) if k in (HEAD_W, HEAD_B) else g
    return out


def query_loss(net, ep: Episode) -> torch.Tensor:
    n_s = len(ep.support)
    logits = net(torch.cat([ep.support, ep.query]), n_stats=n_s)[n_s:]
    return F.cross_entropy(logits, ep.query_labels)


def ours(
    learner: GradientLearner, batched: bool, fast: bool = True
) -> Callable[[list[Episode]], Grads]:
    """Our meta-gradient; ``fast=False``: the generic ``functional_call`` path on the module."""

    def step(episodes: list[Episode]) -> Grads:
        learner.batch_tasks, learner.fast_path = batched, fast
        try:
            learner.zero_grad(set_to_none=True)
            learner.meta_loss(episodes).loss.backward()
        finally:
            learner.fast_path = True
        return {k: p.grad for k, p in learner.weights().items()}

    return step


def with_higher(learner, steps: int, lr: float, first_order: bool, nhwc: bool = False):
    def step(episodes: list[Episode]) -> Grads:
        import higher  # an ImportError here skips the peer (not installed)

        net = PeerNet(learner, episodes[0].n_way, nhwc)
        inner = torch.optim.SGD(net.parameters(), lr=lr)
        for ep in episodes:
            with higher.innerloop_ctx(net, inner, copy_initial_weights=False) as (fnet, diffopt):
                for _ in range(steps):
                    loss = F.cross_entropy(fnet(ep.support), ep.support_labels)
                    if first_order:
                        diffopt.step(loss, grad_callback=lambda gs: [g.detach() for g in gs])
                    else:
                        diffopt.step(loss)
                (query_loss(fnet, ep) / len(episodes)).backward()
        return peer_grads(net)

    return step


def with_torchopt(learner, steps: int, lr: float, first_order: bool, nhwc: bool = False):
    def step(episodes: list[Episode]) -> Grads:
        import torchopt  # an ImportError here skips the peer (not installed)

        net = PeerNet(learner, episodes[0].n_way, nhwc)
        if first_order:  # functional API: gradients taken without a graph
            params0 = dict(net.named_parameters())
            sgd = torchopt.sgd(lr)
            for ep in episodes:
                params = dict(params0)
                state = sgd.init(params)
                for _ in range(steps):
                    out = torch.func.functional_call(net, params, (ep.support,))
                    loss = F.cross_entropy(out, ep.support_labels)
                    grads = torch.autograd.grad(loss, tuple(params.values()))
                    grads = dict(zip(params, grads, strict=True))
                    updates, state = sgd.update(grads, state, inplace=False)
                    params = torchopt.apply_updates(params, updates, inplace=False)
                n_s = len(ep.support)
                images = torch.cat([ep.support, ep.query])
                out = torch.func.functional_call(net, params, (images, n_s))[n_s:]
                (F.cross_entropy(out, ep.query_labels) / len(episodes)).backward()
            return peer_grads(net)
        inner = torchopt.MetaSGD(net, lr=lr)
        start = torchopt.extract_state_dict(net)
        for ep in episodes:
            for _ in range(steps):
                inner.step(F.cross_entropy(net(ep.support), ep.support_labels))
            (query_loss(net, ep) / len(episodes)).backward()
            torchopt.recover_state_dict(net, start)
        return peer_grads(net)

    return step


def with_func(learner, steps: int, lr: float, first_order: bool, nhwc: bool = False):
    """The torch.func tutorial way: a params dict through ``functional_call``, a task loop."""

    def step(episodes: list[Episode]) -> Grads:
        net = PeerNet(learner, episodes[0].n_way, nhwc)
        params0 = dict(net.named_parameters())
        for ep in episodes:
            params = dict(params0)
            for _ in range(steps):
                out = torch.func.functional_call(net, params, (ep.support,))
                loss = F.cross_entropy(out, ep.support_labels)
                grads = torch.autograd.grad(
                    loss, tuple(params.values()), create_graph=not first_order
                )
                params = {k: v - lr * g for (k, v), g in zip(params.items(), grads, strict=True)}
            n_s = len(ep.support)
            images = torch.cat([ep.support, ep.query])
            out = torch.func.functional_call(net, params, (images, n_s))[n_s:]
            (F.cross_entropy(out, ep.query_labels) / len(episodes)).backward()
        return peer_grads(net)

    return step


def rel_error(a: Grads, b: Grads) -> float:
    num = sum(float((a[k] - b[k]).pow(2).sum()) for k in b)
    den = sum(float(b[k].pow(2).sum()) for k in b)
    return (num / den) ** 0.5


def timed_rounds(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, tuple]:
    """Median (wall, cpu) seconds of each function, run round-robin so that a load change on a
    shared machine hits every implementation alike."""
    walls: dict[str, list[float]] = {k: [] for k in fns}
    cpus: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            w, c = time.perf_counter(), time.process_time()
            fn()
            walls[k].append(time.perf_counter() - w)
            cpus[k].append(time.process_time() - c)
    return {k: (statistics.median(walls[k]), statistics.median(cpus[k])) for k in fns}


def implementations(
    learner, steps: int, lr: float, first_order: bool, paths_only: bool = False
) -> dict:
    mine = {
        "ours": ours(learner, batched=False),
        "ours, generic path": ours(learner, batched=False, fast=False),
    }
    if paths_only:
        return mine
    return {
        **mine,
        "ours, grouped conv": ours(learner, batched=True),
        "higher": with_higher(learner, steps, lr, first_order),
        "torchopt": with_torchopt(learner, steps, lr, first_order),
        "torch.func loop": with_func(learner, steps, lr, first_order),
        "higher + NHWC fix": with_higher(learner, steps, lr, first_order, nhwc=True),
        "torchopt + NHWC fix": with_torchopt(learner, steps, lr, first_order, nhwc=True),
    }


def maml_learner(steps: int, lr: float, first_order: bool, dtype=torch.float32):
    torch.manual_seed(0)
    learner = build_learner(
        "maml", {"inner_steps": steps, "inner_lr": lr, "first_order": first_order}
    ).to(dtype)
    with torch.no_grad():  # a non-zero head row: every gradient term matters
        learner.head.weight.normal_(0, 0.1)
    return learner


def check_gradients(steps: int, lr: float, tasks: int, paths_only: bool = False) -> None:
    """float64: every implementation's meta-gradient against ours (identical up to rounding)."""
    print(f"\n## meta-gradient check, float64, {tasks} tasks (relative error vs ours)")
    episodes = [
        Episode(
            e.support.double(), e.support_labels, e.query.double(), e.query_labels, e.class_names
        )
        for e in make_episodes(tasks, 5, 1, 15, seed=3)
    ]
    for first_order in (False, True):
        learner = maml_learner(steps, lr, first_order, torch.float64)
        impls = implementations(learner, steps, lr, first_order, paths_only)
        ref = {k: v.clone() for k, v in impls.pop("ours")(episodes).items()}
        parts = []
        for name, fn in impls.items():
            try:
                grads = fn(episodes)
            except ImportError:
                continue
            ok = all(torch.allclose(grads[k], ref[k], rtol=1e-7, atol=1e-10) for k in ref)
            parts.append(f"{name} {rel_error(grads, ref):.0e}{'' if ok else ' MISMATCH'}")
            if not ok:
                raise SystemExit(f"{name}: meta-gradient differs from ours")
        print(("first order:  " if first_order else "second order: ") + "; ".join(parts))


def meta_step_table(title: str, impls: dict, episodes, repeats: int) -> None:
    print(f"\n## {title}")
    ref = {k: v.clone() for k, v in impls["ours"](episodes).items()}
    runs, errors = {}, {}
    for name, fn in impls.items():
        try:
            grads = fn(episodes)  # warm-up
        except ImportError as exc:
            print(f"{name:<22} skipped: {exc}")
            continue
        errors[name] = rel_error(grads, ref)
        runs[name] = lambda fn=fn: fn(episodes)
    times = timed_rounds(runs, repeats)
    wall0, cpu0 = times["ours"]
    print(
        f"{'implementation':<22} {'wall s':>8} {'cpu s':>8} {'/ours wall':>10} {'/ours cpu':>9}"
        "  float32 grad rel. diff"
    )
    for name, (wall, cpu) in times.items():
        print(
            f"{name:<22} {wall:8.2f} {cpu:8.2f} {wall / wall0:10.2f} {cpu / cpu0:9.2f}"
            f"  {errors[name]:.0e}"
        )
    peers = {k: v for k, v in times.items() if not k.startswith("ours")}
    if peers:
        name, (wall, cpu) = min(peers.items(), key=lambda kv: kv[1][1])
        print(
            f"fastest peer: {name}; ours is {cpu / cpu0:.2f}x faster (cpu), "
            f"{wall / wall0:.2f}x (wall)"
        )


def adaptation_latency(repeats: int, paths_only: bool = False) -> None:
    print("\n## test-time adaptation: 5-way 5-shot, 10 steps + predict 75 queries")
    (ep,) = make_episodes(1, 5, 5, 15, seed=1)
    runs = {}
    names = ("maml",) if paths_only else ("maml", "anil", "metasgd", "reptile")
    for name in names:
        for fast in (True, False) if name == "maml" else (True,):
            learner = build_learner(name, {}).eval()
            learner.fast_path = fast

            def run(learner=learner):
                clf = final_step(learner.adapt(ep.support, ep.support_labels, steps=10)).classifier
                return clf.logits(ep.query).argmax(1)

            run()
            runs[name if fast else f"{name}, generic path"] = run
    for name, (wall, cpu) in timed_rounds(runs, repeats).items():
        print(f"{name:<22} {1000 * wall:7.1f} ms wall {1000 * cpu:7.1f} ms cpu (target <= 150 ms)")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--tasks", type=int, default=32, help="meta-batch size")
    p.add_argument("--steps", type=int, default=5, help="inner steps")
    p.add_argument("--repeats", type=int, default=3, help="timed meta-steps per implementation")
    p.add_argument("--skip-second-order", action="store_true")
    p.add_argument(
        "--adaptation-only", action="store_true", help="only the test-time adaptation latency"
    )
    p.add_argument(
        "--paths-only",
        action="store_true",
        help="only our fast Conv-4 path against our generic functional_call path",
    )
    p.add_argument(
        "--system-malloc",
        action="store_true",
        help="leave glibc's allocator settings alone (default: core.device.keep_freed_memory)",
    )
    args = p.parse_args(argv)
    if not args.system_malloc:
        keep_freed_memory()  # process-wide: every implementation below runs with it
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(
        f"torch {torch.__version__}, {args.threads} threads, Conv-4, 5-way 1-shot 15-query, "
        f"{args.steps} inner steps, meta-batch {args.tasks}, float32"
    )
    if args.adaptation_only:
        adaptation_latency(max(args.repeats, 3), args.paths_only)
        return
    lr = 0.1
    check_gradients(args.steps, lr, tasks=2, paths_only=args.paths_only)
    episodes = make_episodes(args.tasks, 5, 1, 15, seed=0)
    for first_order in (False, True):
        if not first_order and args.skip_second_order:
            continue
        learner = maml_learner(args.steps, lr, first_order)
        title = "first-order MAML" if first_order else "MAML, second order"
        impls = implementations(learner, args.steps, lr, first_order, args.paths_only)
        meta_step_table(f"{title}: s per meta-step", impls, episodes, args.repeats)
    adaptation_latency(max(args.repeats, 3), args.paths_only)


if __name__ == "__main__":
    main()
