"""Meta-training on several processes with PyTorch's own engine (``torchrun``).

``torchrun --nproc_per_node N -m core.train ...`` starts N ranks. Each rank draws only its share
of every meta-batch (``core.data.step_episodes``: episode ``j`` of step ``s`` comes from the seed
``(seed, s, j)``, so the union over ranks does not depend on the world size); its gradients are
averaged over the ranks with one ``all_reduce`` of a flat buffer before the optimiser steps
(the learners' meta-losses are not one forward pass of a module, which DistributedDataParallel's
hooks need, so the all-reduce is explicit; it is the same sum). When the meta-batch does not
divide among the ranks (ProtoNet's one episode per step), every rank takes every episode and a
share of its queries, and the gradients are weighted by the queries each rank scored.

gloo on the CPU, NCCL on CUDA; collectives time out after ``--dist-timeout`` seconds, so a lost
rank ends the run with a message instead of a hang. Only rank 0 validates, logs and writes.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from core.data.episodes import Episode


@dataclass(frozen=True)
class DistContext:
    """Where this process stands in a run: ``rank`` of ``world`` processes."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def launched() -> bool:
    """Whether this process was started by ``torchrun`` (or anything setting its variables)."""
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ


def init(device: torch.device, timeout_seconds: float) -> DistContext:
    """Join the process group torchrun set up; returns this rank's context and, on CUDA,
    selects this rank's GPU. Raises ValueError with a one-line reason."""
    world, rank = int(os.environ["WORLD_SIZE"]), int(os.environ["RANK"])
    local = int(os.environ.get("LOCAL_RANK", rank))
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(local)
    try:
        dist.init_process_group(
            backend, timeout=datetime.timedelta(seconds=timeout_seconds), rank=rank,
            world_size=world,
        )  # fmt: skip
    except (RuntimeError, ValueError) as exc:
        raise ValueError(f"cannot join the torchrun process group: {first_line(exc)}") from None
    return DistContext(rank, world, local)


def device_of(ctx: DistContext, device: torch.device) -> torch.device:
    """This rank's device: its own GPU on CUDA."""
    return torch.device("cuda", ctx.local_rank) if device.type == "cuda" else device


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@dataclass(frozen=True)
class Share:
    """What one rank does of a meta-batch of ``meta_batch`` episodes."""

    indices: tuple[int, ...]  # episode positions this rank draws
    split_queries: bool  # every rank draws every episode and keeps a share of its queries


def share(ctx: DistContext, meta_batch: int) -> Share:
    if meta_batch % ctx.world == 0:
        per = meta_batch // ctx.world
        return Share(tuple(range(ctx.rank * per, (ctx.rank + 1) * per)), False)
    return Share(tuple(range(meta_batch)), True)


def query_share(ep: Episode, ctx: DistContext) -> Episode:
    """The queries of ``ep`` this rank scores: the ``rank``-th of every ``world`` per class (so
    every rank scores every class); the support is kept whole."""
    counts = torch.bincount(ep.query_labels, minlength=ep.n_way)
    position = torch.cat([torch.arange(int(c)) for c in counts])  # rank of each query in class
    keep = position % ctx.world == ctx.rank
    return Episode(ep.support, ep.support_labels, ep.query[keep], ep.query_labels[keep],
                   ep.class_names)  # fmt: skip


class AllReduceOptimizer:
    """An optimizer whose ``step`` first sums ``weight`` x the gradients of every rank.

    ``weight`` is set before each step (1 / world for an even split of the meta-batch, this
    rank's share of the queries otherwise). A parameter without a gradient on every rank keeps
    none, as in a single process. Everything else is the wrapped optimizer's.
    """

    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        self.optimizer = optimizer
        self.weight = 1.0

    @property
    def param_groups(self):
        return self.optimizer.param_groups

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict:
        return self.optimizer.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state)

    def step(self) -> None:
        self.reduce_gradients()
        self.optimizer.step()

    def reduce_gradients(self) -> None:
        """Replace every gradient by the weighted sum over the ranks (before a loss scaler's
        overflow check, so that every rank takes the same decision)."""
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        if not params:
            return
        ref = params[0]
        has = torch.tensor([p.grad is not None for p in params], dtype=torch.float32)
        flat = torch.cat(
            [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params]
        )
        flat = torch.cat([flat.to(ref.dtype) * self.weight, has.to(ref.device, ref.dtype)])
        if dist.is_initialized():  # else one process continuing a torchrun run
            dist.all_reduce(flat)
        found = flat[-len(params) :] > 0
        offset = 0
        for p, any_grad in zip(params, found.tolist(), strict=True):
            n = p.numel()
            p.grad = flat[offset : offset + n].view_as(p).to(p.dtype) if any_grad else None
            offset += n


def average_buffers(module: torch.nn.Module) -> None:
    """Average the floating-point buffers (BatchNorm running statistics) over the ranks, so that
    every rank holds the same model (DDP broadcasts rank 0's instead; the average uses every
    rank's episodes). Not the same as one process's sequential updates: weights are, these not."""
    buffers = [b for b in module.buffers() if b.is_floating_point()]
    if not buffers or not dist.is_initialized():
        return
    flat = torch.cat([b.reshape(-1) for b in buffers])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    offset = 0
    for b in buffers:
        b.copy_(flat[offset : offset + b.numel()].view_as(b))
        offset += b.numel()


def agree_to_stop(ctx: DistContext, stop: bool, device: torch.device) -> bool:
    """True on every rank when any rank wants to stop (rank 0's deadline, a signal)."""
    if ctx.world == 1 or not dist.is_initialized():
        return stop
    flag = torch.tensor([1.0 if stop else 0.0], device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item() > 0)
