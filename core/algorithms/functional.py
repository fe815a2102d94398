"""Fast functional Conv-4 and the inner loop shared by MAML, FOMAML, ANIL, Meta-SGD and Reptile.

Fast weights are a dict ``name -> tensor`` (names as in ``GradientLearner.named_parameters()``)
whose tensors carry a leading *task* dimension ``T``: one set of weights per task. Every task of a
meta-batch goes through the network in one call: task ``t``'s images are channel group ``t`` of a
grouped convolution (``groups=T``), so one convolution serves all tasks however far their weights
have drifted in the inner loop. BatchNorm over the ``(n, T*C, H, W)`` batch then normalises each
task's channels with that task's own statistics. Nothing is shared between tasks, so the
gradient of the *sum* of the task losses w.r.t. the stacked fast weights is, slice by slice, each
task's own gradient, and second-order meta-gradients are exact (checked against finite
differences and against a per-task loop in the tests; unlike ``torch.func.vmap``, whose batch
norm batching rule gives wrong second-order gradients).

BatchNorm always uses batch statistics (no running averages), as in MAML: the inner loop
normalises the support set with its own statistics; queries are normalised with the statistics
of the support set under the same weights (``n_stats``), in meta-training, evaluation and the
GUI alike. So a query's prediction does not depend on the other queries (a single drawn
character gets the same answer alone or in a batch).

The classifier head is one learned row ``(1, d)`` and bias ``(1,)`` repeated ``n_way`` times
("unicorn" head, Ye & Chao 2022; zero-initialised as in the "zeroing trick" of Kao et al. 2022):
it serves any number of classes and is invariant to the order of the classes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from core.algorithms.base import AdaptStep, Learner, MetaLoss, check_finite, check_support
from core.data.episodes import Episode
from core.models import Conv4

Params = dict[str, torch.Tensor]
#: ``update(fast, grads, step) -> new fast``: one inner-loop optimiser step.
Update = Callable[[Params, Sequence[torch.Tensor | None], int], Params]

BLOCKS = 4
BN_EPS = 1e-5
HEAD_W, HEAD_B = "head.weight", "head.bias"
CHANNELS_LAST = torch.channels_last


def block_names(i: int) -> tuple[str, str, str, str]:
    """Conv weight, conv bias, BN weight, BN bias of Conv-4 block ``i`` (``Conv4`` layout)."""
    p = f"backbone.encoder.{i}"
    return f"{p}.0.weight", f"{p}.0.bias", f"{p}.1.weight", f"{p}.1.bias"


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


def _batch_norm(
    h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, n_stats: int | None
) -> torch.Tensor:
    """Normalise ``h`` ``(n, C, H, W)`` with the statistics of its first ``n_stats`` rows."""
    if n_stats is None or n_stats == h.shape[0]:
        return _BatchNorm.apply(h, weight, bias)
    return _SupportNorm.apply(h, weight, bias, n_stats)


def _first_conv(images: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """The first 3x3 convolution as one matrix product per task, returned as the grouped
    layout ``(n, T*C_out, H, W)`` in channels_last.

    images ``(T, n, C_in, H, W)``, weight ``(T, C_out, C_in, 3, 3)``, bias ``(T, C_out)``. With one
    input channel oneDNN's convolution is slow on this CPU (and returns NCHW, which then needs a
    copy); the 9-column unfold times the weight gives the NHWC output directly, the same sums
    (benchmarks/maml_speed.py).
    """
    tasks, n, c, hgt, wid = images.shape
    k = weight.shape[-1]
    cols = F.unfold(images.reshape(tasks * n, c, hgt, wid), k, padding=k // 2)
    cols = cols.view(tasks, n, c * k * k, hgt * wid).transpose(2, 3).reshape(tasks, -1, c * k * k)
    out = torch.baddbmm(bias.unsqueeze(1), cols, weight.reshape(tasks, -1, c * k * k).mT)
    out = out.view(tasks, n, hgt, wid, -1).permute(1, 2, 3, 0, 4)
    return out.reshape(n, hgt, wid, -1).permute(0, 3, 1, 2)


def features(params: Mapping[str, torch.Tensor], images: torch.Tensor, n_stats: int | None = None):
    """Conv-4 embeddings ``(T, n, d)`` of ``images`` ``(T, n, C, H, W)`` under per-task weights.

    BatchNorm uses the statistics of the first ``n_stats`` images of each task (all if None).
    """
    tasks, n = images.shape[:2]
    h = None
    for i in range(BLOCKS):
        cw, cb, bw, bb = (params[k] for k in block_names(i))
        if h is None:
            h = _first_conv(images, cw, cb)
        else:
            cw = cw.reshape(-1, *cw.shape[2:]).contiguous(memory_format=CHANNELS_LAST)
            h = F.conv2d(h, cw, cb.reshape(-1), padding=1, groups=tasks)
            h = h.contiguous(memory_format=CHANNELS_LAST)  # a no-op unless oneDNN chose NCHW
        h = _batch_norm(h, bw.reshape(-1), bb.reshape(-1), n_stats)
        h = F.relu(F.max_pool2d(h, 2))  # == max_pool(relu(h)), on 4x fewer elements
    return h.reshape(n, tasks, -1).transpose(0, 1)


def head_logits(params: Mapping[str, torch.Tensor], feats: torch.Tensor) -> torch.Tensor:
    """Logits ``(T, n, n_way)`` of embeddings ``(T, n, d)``.

    The head is ``params[HEAD_W]`` ``(T, n_way, d)`` and ``params[HEAD_B]`` ``(T, n_way)``.
    """
    return torch.baddbmm(params[HEAD_B].unsqueeze(1), feats, params[HEAD_W].transpose(1, 2))


def logits(params: Mapping[str, torch.Tensor], images: torch.Tensor, n_stats: int | None = None):
    """Logits ``(T, n, n_way)`` of ``images`` ``(T, n, C, H, W)`` (see ``features``)."""
    return head_logits(params, features(params, images, n_stats))


def task_losses(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Sum over tasks of each task's mean cross-entropy; logits ``(T, n, W)``, labels ``(T, n)``.

    Summing (not averaging) keeps each task's gradient w.r.t. its own fast weights unscaled.
    """
    n_way = logits.shape[-1]
    return (
        F.cross_entropy(logits.reshape(-1, n_way), labels.reshape(-1), reduction="sum")
        / (labels.shape[1])
    )


def correct(logits: torch.Tensor, labels: torch.Tensor) -> int:
    return int((logits.argmax(-1) == labels).sum())


def check_inner(steps: int, lr: float, adapt_steps: int) -> None:
    """Raise ValueError with a one-line reason for unusable inner-loop settings."""
    if steps < 1:
        raise ValueError("inner_steps must be at least 1")
    if adapt_steps < 0:
        raise ValueError("adapt_steps must be >= 0")
    if not lr > 0:
        raise ValueError("inner_lr must be positive")


def sgd(lr: float | Mapping[str, torch.Tensor]) -> Update:
    """Plain SGD; ``lr`` is a number or, for Meta-SGD, a tensor per parameter name.

    A ``None`` gradient (a weight the loss does not move, see ``inner_loop``) keeps the weight
    itself, the same tensor object.
    """

    def update(fast: Params, grads: Sequence[torch.Tensor | None], step: int) -> Params:
        rates = lr if isinstance(lr, Mapping) else dict.fromkeys(fast, lr)
        return {
            k: v if g is None else v - rates[k] * g
            for (k, v), g in zip(fast.items(), grads, strict=True)
        }

    return update


@dataclass(frozen=True)
class InnerState:
    """Fast weights at ``step`` and (unless skipped) their loss and ``loss_fn``'s extra output."""

    step: int
    fast: Params
    loss: torch.Tensor | None
    out: Any


#: Adaptation reports query probabilities at every step (the GUI's live predictions) for up to
#: this many query images; larger query sets (evaluation) are classified after the last step.
LIVE_QUERIES = 16


def inner_loop(
    fast: Params,
    loss_fn: Callable[[Params, int], tuple[torch.Tensor, Any]],
    steps: int,
    update: Update,
    create_graph: bool,
    evaluate_last: bool = True,
    tied_head: bool = False,
) -> Iterator[InnerState]:
    """Yield the state at steps ``0..steps``; between yields, ``update`` on the loss gradient.

    ``create_graph=True`` keeps the graph of every update (second-order meta-gradients);
    ``False`` treats the gradients as constants (first order; adaptation at test time).
    ``evaluate_last=False`` skips the loss of the final weights (meta-training evaluates them on
    the queries instead).

    ``tied_head=True``: ``fast`` starts from ``task_weights``, whose head rows are all one row, so
    every class has the same score at step 0 and the loss's gradient w.r.t. the embedding,
    ``sum_c w (p_c - y_c) = w (1 - 1)``, is exactly zero: the first step moves only the head.
    Its gradient is then taken w.r.t. the head alone (no backward pass through the backbone).
    Without ``create_graph`` the backbone weights stay the same tensors, so a ``FeatureCache``
    serves step 1 without a forward pass; with it they are re-labelled (the new head is a
    function of the old backbone, and step 1 needs the gradient w.r.t. the backbone alone), and
    step 1 embeds again. Same results as the full gradient (tested).
    """
    for step in range(steps + 1):
        if step == steps and not evaluate_last:
            yield InnerState(step, fast, None, None)
            return
        loss, out = loss_fn(fast, step)
        yield InnerState(step, fast, loss, out)
        if step < steps:
            moving = [k for k in fast if step > 0 or not tied_head or k in (HEAD_W, HEAD_B)]
            found = torch.autograd.grad(
                loss,
                [fast[k] for k in moving],
                create_graph=create_graph,
                retain_graph=create_graph or len(moving) < len(fast),
            )
            by_name = dict(zip(moving, found, strict=True))
            fast = update(fast, [by_name.get(k) for k in fast], step)
            if create_graph and len(moving) < len(fast):
                # the new head depends on the old backbone through its gradient; a new node per
                # kept weight makes step 1's gradient the partial derivative it must be
                fast = {k: v if k in by_name else v.view_as(v) for k, v in fast.items()}


class FeatureCache:
    """``features`` that returns its last result again while the backbone weights and images
    are the same tensors (step 1 after a head-only first step, see ``inner_loop``)."""

    def __init__(self) -> None:
        self._key: list[torch.Tensor] = []
        self._n_stats: int | None = None
        self._feats = torch.empty(0)

    def __call__(self, params: Params, images: torch.Tensor, n_stats: int | None = None):
        key = [images, *(v for k, v in params.items() if k not in (HEAD_W, HEAD_B))]
        same = len(key) == len(self._key) and self._n_stats == n_stats
        if not (same and all(a is b for a, b in zip(key, self._key, strict=True))):
            self._feats, self._key, self._n_stats = features(params, images, n_stats), key, n_stats
        return self._feats


def last(states: Iterator[InnerState]) -> InnerState:
    state = None
    for state in states:  # noqa: B007
        pass
    assert state is not None
    return state


@dataclass(frozen=True)
class FastClassifier:
    """An adapted classifier: fast weights (task dimension 1) and the support set.

    ``logits(images)`` normalises ``images`` with the support set's BatchNorm statistics, the same
    rule as in meta-training, so each image is classified independently of the others.
    """

    params: Mapping[str, torch.Tensor]
    support: torch.Tensor

    @property
    def n_way(self) -> int:
        return self.params[HEAD_W].shape[1]

    @torch.no_grad()
    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """``(n, C, H, W)`` -> ``(n, n_way)``."""
        n_s = len(self.support)
        both = torch.cat([self.support, images.to(self.support.dtype)]).unsqueeze(0)
        return logits(self.params, both, n_stats=n_s)[0, n_s:]


@dataclass(frozen=True)
class TaskBatch:
    """Episodes of equal shape stacked on a leading task dimension ``T``."""

    support: torch.Tensor  # (T, n_s, C, H, W)
    support_labels: torch.Tensor  # (T, n_s)
    query: torch.Tensor  # (T, n_q, C, H, W)
    query_labels: torch.Tensor  # (T, n_q)
    n_way: int

    @property
    def tasks(self) -> int:
        return self.support.shape[0]


def task_batches(episodes: Sequence[Episode], batch: bool = True) -> list[TaskBatch]:
    """Group ``episodes`` into stacks of equal shape (one stack per episode if not ``batch``)."""
    groups: dict[tuple, list[Episode]] = {}
    for i, ep in enumerate(episodes):
        key = (ep.support.shape, ep.query.shape, ep.n_way) if batch else (i,)
        groups.setdefault(key, []).append(ep)
    return [
        TaskBatch(
            torch.stack([e.support for e in eps]),
            torch.stack([e.support_labels for e in eps]),
            torch.stack([e.query for e in eps]),
            torch.stack([e.query_labels for e in eps]),
            eps[0].n_way,
        )
        for eps in groups.values()
    ]


class GradientLearner(Learner):
    """Conv-4 and a shared head row, adapted functionally by gradient steps.

    Subclasses set ``name`` and implement ``adapt``/``meta_loss`` on top of ``task_weights``,
    ``features``/``logits`` and ``inner_loop``. ``batch_tasks`` runs the tasks of a meta-batch
    together through grouped convolutions instead of one after the other: the same
    meta-gradient (tested), but grouped convolutions are slower than plain ones on CPU
    (benchmarks/maml_speed.py), so it is off by default; it may pay off on a GPU.
    """

    batch_tasks: bool = False

    def __init__(self, config: Any) -> None:
        super().__init__()
        self.config = config
        self.backbone = Conv4(hidden=config.hidden, input_size=config.input_size)
        self.head = nn.Linear(self.backbone.out_features, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def weights(self) -> Params:
        """The meta-trained network weights (backbone and head row), by name."""
        return {k: v for k, v in self.named_parameters() if k.startswith(("backbone.", "head."))}

    def task_weights(self, tasks: int, n_way: int, detach: bool = False) -> Params:
        """The meta weights repeated for ``tasks`` tasks (views), the head row ``n_way`` times.

        ``detach=True`` gives leaves that require grad (test-time adaptation), cut from the meta
        weights so that adaptation can never change them.
        """
        out = {}
        for k, v in self.weights().items():
            if detach:
                v = v.detach()
            if k == HEAD_W:
                v = v.expand(n_way, -1)
            elif k == HEAD_B:
                v = v.expand(n_way)
            v = v.unsqueeze(0).expand(tasks, *v.shape)
            out[k] = v.clone().requires_grad_(True) if detach else v
        return out

    def resolve_steps(self, steps: int | None, lr: float | None) -> int:
        """Validated number of adaptation steps (``None``: the config's ``adapt_steps``)."""
        steps = self.config.adapt_steps if steps is None else steps
        if steps < 0:
            raise ValueError("adaptation steps must be >= 0")
        if lr is not None and not lr > 0:
            raise ValueError("the adaptation learning rate must be positive")
        return steps

    def _adapt_records(
        self,
        states: Iterator[InnerState],
        support: torch.Tensor,
        labels: torch.Tensor,
        total: int,
        fixed: Params,
    ) -> Iterator[AdaptStep]:
        """Turn inner-loop states (whose ``out`` is ``(support_logits, query_logits|None)``) into
        ``AdaptStep`` records carrying a ``FastClassifier``."""
        initial = None
        for state in states:
            loss = float(state.loss.detach())
            check_finite(loss, state.step, initial)
            initial = loss if initial is None else initial
            sup_logits, query_logits = state.out
            probs = None if query_logits is None else torch.softmax(query_logits.detach(), -1)
            params = {**fixed, **{k: v.detach() for k, v in state.fast.items()}}
            yield AdaptStep(
                step=state.step,
                total_steps=total,
                loss=loss,
                support_accuracy=correct(sup_logits, labels) / len(labels),
                query_probs=probs,
                classifier=FastClassifier(params, support),
            )

    @torch.enable_grad()
    def adapt(
        self,
        support: torch.Tensor,
        support_labels: torch.Tensor,
        query: torch.Tensor | None = None,
        steps: int | None = None,
        lr: float | None = None,
    ) -> Iterator[AdaptStep]:
        """Inner loop on all weights (MAML-style). Step 0 is the meta-trained initialisation.

        ``support`` ``(n_s, C, H, W)``, ``support_labels`` ``(n_s,)``, ``query`` ``(n_q, C, H, W)``.
        """
        n_way = check_support(support, support_labels)
        steps = self.resolve_steps(steps, lr)
        n_s = len(support)
        images = support if query is None else torch.cat([support, query.to(support.dtype)])
        images, labels = images.unsqueeze(0), support_labels.unsqueeze(0)
        support_only, embed = images[:, :n_s], FeatureCache()

        def loss_fn(fast: Params, step: int):
            # BatchNorm statistics come from the support rows only, so leaving the queries out
            # changes nothing on the support; it spares their share of the backward pass
            live = query is not None and (step == steps or len(query) <= LIVE_QUERIES)
            out = head_logits(fast, embed(fast, images if live else support_only, n_stats=n_s))
            query_logits = out[0, n_s:] if live else None
            return task_losses(out[:, :n_s], labels), (out[0, :n_s], query_logits)

        fast = self.task_weights(1, n_way, detach=True)
        states = inner_loop(
            fast, loss_fn, steps, self.inner_update(lr), create_graph=False, tied_head=True
        )
        yield from self._adapt_records(states, support, support_labels, steps, {})

    def inner_update(self, lr: float | None) -> Update:
        """The inner-loop optimiser step at test time (``lr`` None: the trained setting)."""
        return sgd(self.config.inner_lr if lr is None else lr)

    def query_loss(self, fast: Params, batch: TaskBatch) -> tuple[torch.Tensor, int]:
        """Sum of the task query losses under ``fast``, and the number of correct queries."""
        n_s = batch.support.shape[1]
        out = logits(fast, torch.cat([batch.support, batch.query], 1), n_stats=n_s)[:, n_s:]
        return task_losses(out, batch.query_labels), correct(out.detach(), batch.query_labels)

    def meta_loss(self, episodes: Sequence[Episode]) -> MetaLoss:
        total, hits, count = 0.0, 0, 0
        for batch in task_batches(episodes, self.batch_tasks):
            loss, ok = self.task_batch_loss(batch)
            total = total + loss
            hits += ok
            count += batch.query_labels.numel()
        return MetaLoss(total / len(episodes), hits / max(count, 1))

    def task_batch_loss(self, batch: TaskBatch) -> tuple[torch.Tensor, int]:
        raise NotImplementedError
