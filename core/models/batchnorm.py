"""BatchNorm of the gradient learners: batch statistics always, queries normalised with the
support set's statistics; as fused kernels and as a module for any backbone.

``_BatchNorm`` (all rows' statistics, a double backward in few passes) and ``_SupportNorm`` (the
statistics of the first ``n_stats`` rows, first order only) are the kernels; ``batch_norm``
picks one. ``SupportBatchNorm2d`` is the module form that ``build_backbone(norm="support")``
puts in a network: it reads ``n_stats`` from a context the caller sets with
``support_statistics(n_stats)`` (a ``contextvars.ContextVar``, so threads do not interfere),
which lets ``torch.func.functional_call`` run any backbone with the gradient learners' rule.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

BN_EPS = 1e-5
CHANNELS_LAST = torch.channels_last
NORMS = ("batch", "support")

_N_STATS: ContextVar[int | None] = ContextVar("metagui_n_stats", default=None)


class _BatchNorm(torch.autograd.Function):
    """BatchNorm with batch statistics whose backward is differentiable in few passes.

    Forward and a first-order backward are PyTorch's fused kernels. When the backward itself
    must be differentiated (second-order MAML and Meta-SGD: ``create_graph=True``), it is written
    as eight elementwise operations and reductions that autograd differentiates again; PyTorch's
    own double backward of batch norm was the costliest part of a second-order meta-step on this
    CPU (about 2x slower on channels_last activations; benchmarks/maml_speed.py).
    """

    @staticmethod
    def forward(ctx, h, weight, bias):
        out, mean, invstd = torch.native_batch_norm(h, weight, bias, None, None, True, 0.0, BN_EPS)
        ctx.save_for_backward(h, weight, mean, invstd)
        return out

    @staticmethod
    def backward(ctx, grad):
        h, weight, mean, invstd = ctx.saved_tensors
        grad = grad.contiguous(memory_format=_layout(h))  # mixed layouts take slow loops
        if not torch.is_grad_enabled():
            return torch.ops.aten.native_batch_norm_backward(
                grad, h, weight, None, None, mean, invstd, True, BN_EPS, [True, True, True]
            )
        dims = (0, 2, 3)
        m = h.numel() // h.shape[1]
        centred = h - h.mean(dims, keepdim=True)
        invstd = torch.rsqrt(centred.square().mean(dims, keepdim=True) + BN_EPS)
        h_hat = centred * invstd
        grad_b = grad.sum(dims, keepdim=True)
        grad_w = (grad * h_hat).sum(dims, keepdim=True)
        grad_h = (weight.view(1, -1, 1, 1) * invstd) * (grad - (grad_b + h_hat * grad_w) / m)
        return grad_h, grad_w.view(-1), grad_b.view(-1)


def _layout(h: torch.Tensor) -> torch.memory_format:
    if h.is_contiguous(memory_format=CHANNELS_LAST):
        return CHANNELS_LAST
    return torch.contiguous_format


class _SupportNorm(torch.autograd.Function):
    """BatchNorm of all rows of ``h`` ``(n, C, H, W)`` with the statistics of its first ``n_stats``.

    Forward and most of the backward are PyTorch's fused eval-mode batch-norm kernels (the
    statistics passed as running statistics); the backward then adds the terms that flow through
    the statistics into the first ``n_stats`` rows. Written out because autograd of the plain
    formula made six passes over the largest activation and was the costliest step of a
    meta-step (benchmarks/maml_speed.py). First-order only: the query pass of meta-training is
    differentiated once (checked against the plain formula and finite differences in tests).
    """

    @staticmethod
    def forward(ctx, h, weight, bias, n_stats: int):
        ref = h[:n_stats]
        mean = ref.mean((0, 2, 3))
        var = (ref - mean.view(1, -1, 1, 1)).square().mean((0, 2, 3))
        ctx.save_for_backward(h, weight, mean, var)
        ctx.n_stats = n_stats
        return F.batch_norm(h, mean, var, weight, bias, training=False, eps=BN_EPS)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        h, weight, mean, var = ctx.saved_tensors
        grad = grad.contiguous(memory_format=_layout(h))
        grad_h, grad_w, grad_b = torch.ops.aten.native_batch_norm_backward(
            grad, h, weight, mean, var, None, None, False, BN_EPS, [True, True, True]
        )
        ref = h[: ctx.n_stats]
        m = ref.numel() // ref.shape[1]
        invstd = torch.rsqrt(var + BN_EPS).view(1, -1, 1, 1)
        ref_hat = (ref - mean.view(1, -1, 1, 1)) * invstd
        # through the statistics into the reference rows: -(w r / m) (sum g + x_hat sum g x_hat)
        through = torch.addcmul(grad_b.view(1, -1, 1, 1), ref_hat, grad_w.view(1, -1, 1, 1))
        grad_h[: ctx.n_stats] -= through * (weight.view(1, -1, 1, 1) * invstd / m)
        return grad_h, grad_w, grad_b, None


def batch_norm(
    h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, n_stats: int | None
) -> torch.Tensor:
    """Normalise ``h`` ``(n, C, H, W)`` with the statistics of its first ``n_stats`` rows
    (all rows if None); ``weight``/``bias`` ``(C,)``."""
    if not (torch.is_grad_enabled() and (h.requires_grad or weight.requires_grad)):
        # inference (predictions, core.export's traces): the same operators as the autograd
        # Functions' forward passes, called directly (a trace cannot hold a Python Function)
        if n_stats is None or n_stats == h.shape[0]:
            return F.batch_norm(h, None, None, weight, bias, training=True, eps=BN_EPS)
        ref = h[:n_stats]
        mean = ref.mean((0, 2, 3))
        var = (ref - mean.view(1, -1, 1, 1)).square().mean((0, 2, 3))
        return F.batch_norm(h, mean, var, weight, bias, training=False, eps=BN_EPS)
    if n_stats is None or n_stats == h.shape[0]:
        return _BatchNorm.apply(h, weight, bias)
    return _SupportNorm.apply(h, weight, bias, n_stats)


@contextmanager
def support_statistics(n_stats: int | None) -> Iterator[None]:
    """Within this context every ``SupportBatchNorm2d`` normalises all rows of its input with
    the statistics of the first ``n_stats`` rows (None: each batch with its own statistics)."""
    token = _N_STATS.set(n_stats)
    try:
        yield
    finally:
        _N_STATS.reset(token)


class SupportBatchNorm2d(nn.Module):
    """BatchNorm2d with batch statistics always (no running averages, so train and eval mode
    agree); the rows after the first ``n_stats`` (see ``support_statistics``) are normalised
    with the statistics of the first ``n_stats``. ``(n, C, H, W)`` -> same shape."""

    def __init__(self, num_features: int, eps: float = BN_EPS) -> None:
        super().__init__()
        if eps != BN_EPS:
            raise ValueError(f"SupportBatchNorm2d's kernels use eps={BN_EPS}")
        self.num_features = num_features
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return batch_norm(h, self.weight, self.bias, _N_STATS.get())

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        # checkpoints of earlier releases hold nn.BatchNorm2d's running statistics, never used
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            state_dict.pop(prefix + name, None)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, statistics=support"


def norm_layer(norm: str, channels: int) -> nn.Module:
    """``nn.BatchNorm2d`` (``norm="batch"``) or ``SupportBatchNorm2d`` (``"support"``)."""
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "support":
        return SupportBatchNorm2d(channels)
    raise ValueError(f"unknown norm {norm!r}; choose one of {', '.join(NORMS)}")


@contextmanager
def own_batch_statistics(module: nn.Module) -> Iterator[None]:
    """Inside, every BatchNorm layer of ``module`` that keeps running statistics normalises each
    batch with the batch's own statistics instead, and its running statistics stay untouched
    (the test protocol behind published figures measured with the network left in training
    mode, e.g. Relation Networks')."""
    layers = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(m.training, m.track_running_stats) for m in layers]
    try:
        for m in layers:  # training mode without tracking: batch statistics, buffers unused
            m.training, m.track_running_stats = True, False
        yield
    finally:
        for m, (training, tracking) in zip(layers, saved, strict=True):
            m.training, m.track_running_stats = training, tracking
