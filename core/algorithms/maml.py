"""MAML (Finn et al., 2017) and first-order MAML: learn an initialisation that a few SGD steps
on a task's support set turn into a good classifier for that task.

The meta-gradient is second order by default (``torch.autograd.grad(create_graph=True)`` through
every inner step, one task after the other, see ``gradient``); ``first_order`` drops the
second-order terms (FOMAML: the query-loss gradient at the adapted weights is applied to the
initialisation). BatchNorm uses batch statistics, queries
normalised with the support set's; the head is one shared zero-initialised row repeated for each
class, so the first inner step moves only the head (all class scores are equal before it) and
the backbone adapts from the second step on.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from core.algorithms.base import (
    BackboneConfig,
    parse_bool,
)
from core.algorithms.gradient import GradientLearner, TaskBatch
from core.algorithms.head import head_logits, task_losses
from core.algorithms.inner_loop import Params, Update, check_inner, inner_loop, last, sgd
from core.models.backbones import check_backbone


@dataclass(frozen=True)
class MAMLConfig(BackboneConfig):
    inner_steps: int = field(
        default=5, metadata={"help": "inner-loop SGD steps on the support set in meta-training"}
    )
    inner_lr: float = field(
        default=0.1, metadata={"help": "inner-loop learning rate (training and adaptation)"}
    )
    adapt_steps: int = field(
        default=10, metadata={"help": "inner-loop steps when adapting at test time and in the GUI"}
    )
    first_order: bool = field(
        default=False,
        metadata={"help": "drop second-order terms of the meta-gradient (FOMAML)"},
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "first_order", parse_bool(self.first_order, "first_order"))
        check_inner(self.inner_steps, self.inner_lr, self.adapt_steps)
        check_backbone(self.backbone, self.in_channels, self.input_size, self.hidden)


@dataclass(frozen=True)
class FOMAMLConfig(MAMLConfig):
    first_order: bool = field(
        default=True,
        metadata={"help": "drop second-order terms of the meta-gradient (FOMAML)"},
    )


class MAML(GradientLearner):
    name = "maml"
    capabilities = replace(
        GradientLearner.capabilities,
        lr_override="SGD learning rate of every adaptation step (trained: inner_lr)",
    )

    def __init__(self, config: MAMLConfig | None = None) -> None:
        super().__init__(config or MAMLConfig())

    def mixed_precision_ok(self) -> bool:
        return self.config.first_order  # second order (MAML, ANIL, Meta-SGD) stays in float32

    def meta_update(self) -> Update:
        """The differentiable inner-loop step of meta-training."""
        return sgd(self.config.inner_lr)

    def adapted_weights(self, batch: TaskBatch) -> Params:
        """Fast weights ``(T, ...)`` after ``inner_steps`` steps on each task's support set."""
        c = self.config

        embed = self.feature_cache()

        def loss_fn(fast: Params, step: int):
            out = head_logits(fast, embed(fast, batch.support))
            return task_losses(out, batch.support_labels), None

        fast = self.task_weights(batch.tasks, batch.n_way)
        states = inner_loop(
            fast,
            loss_fn,
            c.inner_steps,
            self.meta_update(),
            create_graph=not c.first_order,
            evaluate_last=False,
            tied_head=True,
        )
        return last(states).fast

    def task_batch_loss(self, batch: TaskBatch) -> tuple[torch.Tensor, int]:
        return self.query_loss(self.adapted_weights(batch), batch)


class FOMAML(MAML):
    """MAML registered with ``first_order=True`` by default."""

    name = "fomaml"

    def __init__(self, config: MAMLConfig | None = None) -> None:
        super().__init__(config or FOMAMLConfig())
