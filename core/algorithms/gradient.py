"""The base of the gradient learners (MAML, FOMAML, ANIL, Meta-SGD, Reptile): any backbone and a
shared head row, adapted functionally by gradient steps.

BatchNorm always uses batch statistics (no running averages), as in MAML: the inner loop
normalises the support set with its own statistics; queries are normalised with the statistics
of the support set under the same weights (``n_stats``), in meta-training, evaluation and the
GUI alike. So a query's prediction does not depend on the other queries (a single drawn
character gets the same answer alone or in a batch).

Two forward paths compute the same function (tested): the hand-tuned task-batched Conv-4
(``conv4_fast``), chosen automatically for ``backbone="conv4"``, and ``torch.func.functional_call``
on the backbone module for any other backbone (``any_backbone``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from core.algorithms.any_backbone import module_features
from core.algorithms.base import AdaptStep, Capabilities, Learner, MetaLoss, check_finite
from core.algorithms.conv4_fast import features  # the fast path; looked up at call time
from core.algorithms.head import HEAD_B, HEAD_W, correct, head_logits, task_losses
from core.algorithms.inner_loop import (
    LIVE_QUERIES,
    Features,
    InnerState,
    Params,
    Update,
    inner_loop,
    sgd,
)
from core.algorithms.inner_loop import (
    FeatureCache as _FeatureCache,
)
from core.data.episodes import Episode
from core.models.backbones import build_backbone

#: backbones with a hand-tuned functional forward (``conv4_fast``)
FAST_BACKBONES = ("conv4",)


@dataclass(frozen=True)
class FastClassifier:
    """An adapted classifier: fast weights (task dimension 1), the support set and the
    learner's forward (``GradientLearner.task_features``).

    ``logits(images)`` normalises ``images`` with the support set's BatchNorm statistics, the same
    rule as in meta-training, so each image is classified independently of the others;
    ``logits(images, transductive=True)`` normalises them with their own batch's statistics
    instead (the MAML paper's test protocol: each answer depends on the other images).
    """

    params: Mapping[str, torch.Tensor]
    support: torch.Tensor
    features: Features

    @property
    def n_way(self) -> int:
        return self.params[HEAD_W].shape[1]

    @torch.no_grad()
    def logits(self, images: torch.Tensor, transductive: bool = False) -> torch.Tensor:
        """``(n, C, H, W)`` -> ``(n, n_way)``."""
        if transductive:
            batch = images.to(self.support.dtype).unsqueeze(0)
            return head_logits(self.params, self.features(self.params, batch, None))[0]
        n_s = len(self.support)
        both = torch.cat([self.support, images.to(self.support.dtype)]).unsqueeze(0)
        return head_logits(self.params, self.features(self.params, both, n_s))[0, n_s:]

    @torch.no_grad()
    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """The adapted network's features ``(n, d)`` of ``images`` ``(n, C, H, W)``, what the
        head sees (normalised like ``logits``); used by the open-set distance scores."""
        n_s = len(self.support)
        if images is self.support:  # the support set alone: one pass, same statistics
            return self.features(self.params, images.unsqueeze(0), n_s)[0]
        both = torch.cat([self.support, images.to(self.support.dtype)]).unsqueeze(0)
        return self.features(self.params, both, n_s)[0, n_s:]

    @torch.no_grad()
    def head(self, features: torch.Tensor) -> torch.Tensor:
        """Logits ``(n, n_way)`` of features ``(n, d)`` from ``embed``: ``logits`` in two parts."""
        return head_logits(self.params, features.unsqueeze(0))[0]


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
    """A backbone (``build_backbone(..., norm="support")``) and a shared head row, adapted
    functionally by gradient steps.

    Subclasses set ``name`` and implement ``adapt``/``meta_loss`` on top of ``task_weights``,
    ``task_features``/``task_logits`` and ``inner_loop``. ``fast_path`` (True for Conv-4) runs
    the hand-tuned Conv-4 forward instead of ``functional_call`` on the module (same numbers).
    ``batch_tasks`` (fast path only) runs the tasks of a meta-batch together through grouped
    convolutions instead of one after the other: the same meta-gradient (tested), but grouped
    convolutions are slower than plain ones on CPU (benchmarks/maml_speed.py), so it is off by
    default; it may pay off on a GPU.
    """

    capabilities = Capabilities(
        adapt_steps=True,
        lr_override="SGD learning rate of the inner loop",
        embedding=False,
        transductive=True,
    )
    batch_tasks: bool = False

    def __init__(self, config: Any) -> None:
        super().__init__()
        self.config = c = config
        self.backbone = build_backbone(
            c.backbone, c.in_channels, c.input_size, c.hidden, norm="support"
        )
        self.fast_path = c.backbone in FAST_BACKBONES
        self.head = nn.Linear(self.backbone.out_features, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def adapt_defaults(self) -> tuple[int, float | None]:
        return self.config.adapt_steps, self.config.inner_lr

    def task_features(
        self, params: Mapping[str, torch.Tensor], images: torch.Tensor, n_stats: int | None = None
    ) -> torch.Tensor:
        """Embeddings ``(T, n, d)`` of ``images`` ``(T, n, C, H, W)`` under fast weights
        ``params`` (task dimension ``T``); BatchNorm statistics from each task's first
        ``n_stats`` images (all if None)."""
        if self.fast_path:
            return features(params, images, n_stats)
        return module_features(self.backbone, params, images, n_stats)

    def task_logits(
        self, params: Mapping[str, torch.Tensor], images: torch.Tensor, n_stats: int | None = None
    ) -> torch.Tensor:
        """Logits ``(T, n, n_way)`` of ``images`` ``(T, n, C, H, W)`` (see ``task_features``)."""
        return head_logits(params, self.task_features(params, images, n_stats))

    def feature_cache(self) -> _FeatureCache:
        """``task_features`` reusing its last result for the same weights and images."""
        return _FeatureCache(self.task_features)

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
                classifier=FastClassifier(params, support, self.task_features),
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
        n_way = self.support_ways(support, support_labels)
        steps = self.resolve_steps(steps, lr)
        n_s = len(support)
        images = support if query is None else torch.cat([support, query.to(support.dtype)])
        images, labels = images.unsqueeze(0), support_labels.unsqueeze(0)
        support_only, embed = images[:, :n_s], self.feature_cache()

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
        images = torch.cat([batch.support, batch.query], 1)
        out = self.task_logits(fast, images, n_stats=n_s)[:, n_s:]
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
        """Sum over the tasks of ``batch`` of the meta-training loss, and the correct queries."""
        raise NotImplementedError
