"""Reptile (Nichol et al., 2018): train on a task for a few steps, then move the initialisation
toward the adapted weights.

``meta_step`` adapts every task of the batch (its support and query images together are the
task's training data, taken in mini-batches of ``inner_batch`` in class-interleaved order) with
the inner optimiser, then hands ``theta - mean(phi)`` to the trainer's optimiser as the gradient
(the paper's suggested variant, "treat theta - W as a gradient and plug it into Adam"; with SGD
at rate eps it is exactly ``theta += eps * (mean(phi) - theta)``). The head row's difference is
averaged over the class rows it was repeated into. The inner optimiser is Adam with beta1 = 0 as
in the paper's code (or plain SGD), restarted for each task.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F

from core.algorithms.base import (
    BackboneConfig,
    MetaLoss,
)
from core.algorithms.gradient import GradientLearner, task_batches
from core.algorithms.head import HEAD_B, HEAD_W, correct, task_losses
from core.algorithms.inner_loop import Params, Update, check_inner, inner_loop, last, sgd
from core.data.episodes import Episode
from core.models.backbones import check_backbone

INNER_OPTIMIZERS = ("adam", "sgd")


@dataclass(frozen=True)
class ReptileConfig(BackboneConfig):
    inner_steps: int = field(default=5, metadata={"help": "inner-loop steps per task in training"})
    inner_lr: float = field(
        default=0.001, metadata={"help": "inner-loop learning rate (training and adaptation)"}
    )
    inner_batch: int = field(
        default=10, metadata={"help": "images per inner step in training (0: the whole task)"}
    )
    inner_optimizer: str = field(
        default="adam",
        metadata={
            "help": "inner-loop optimiser: adam (beta1=0) or sgd",
            "choices": INNER_OPTIMIZERS,
        },
    )
    adapt_steps: int = field(
        default=50, metadata={"help": "full-batch inner steps when adapting at test time"}
    )

    def __post_init__(self) -> None:
        check_inner(self.inner_steps, self.inner_lr, self.adapt_steps)
        check_backbone(self.backbone, self.in_channels, self.input_size, self.hidden)
        if self.inner_optimizer not in INNER_OPTIMIZERS:
            raise ValueError(f"inner_optimizer must be one of {', '.join(INNER_OPTIMIZERS)}")
        if self.inner_batch < 0:
            raise ValueError("inner_batch must be >= 0")


def adam_beta1_zero(lr: float, beta2: float = 0.999, eps: float = 1e-8) -> Update:
    """Adam with beta1 = 0 (Reptile's inner optimiser); its state lives in this closure.

    A ``None`` gradient is a zero gradient: the weight stays, its second moment decays (from 0).
    """
    second: dict[str, torch.Tensor] = {}

    def update(fast: Params, grads: Sequence[torch.Tensor | None], step: int) -> Params:
        out = {}
        correction = 1 - beta2 ** (step + 1)
        for (k, v), g in zip(fast.items(), grads, strict=True):
            if g is None:
                if k in second:
                    second[k] = beta2 * second[k]
                out[k] = v
                continue
            s = second[k] = beta2 * second.get(k, 0.0) + (1 - beta2) * g * g
            out[k] = v - lr * g / ((s / correction).sqrt() + eps)
        return out

    return update


def interleaved(labels: torch.Tensor, n_way: int) -> torch.Tensor:
    """Indices of ``labels`` ``(n,)`` ordered round-robin over the classes (0, 1, .., 0, 1, ..)."""
    onehot = F.one_hot(labels, n_way)
    rank = (onehot.cumsum(0) * onehot).sum(1) - 1
    return torch.argsort(rank * n_way + labels, stable=True)


class Reptile(GradientLearner):
    name = "reptile"
    capabilities = replace(
        GradientLearner.capabilities,
        lr_override="learning rate of the inner optimiser (as trained: Adam with beta1 = 0, "
        "or SGD)",
    )

    def __init__(self, config: ReptileConfig | None = None) -> None:
        super().__init__(config or ReptileConfig())

    def inner_update(self, lr: float | None) -> Update:
        lr = self.config.inner_lr if lr is None else lr
        return adam_beta1_zero(lr) if self.config.inner_optimizer == "adam" else sgd(lr)

    def meta_loss(self, episodes: Sequence[Episode]) -> MetaLoss:
        raise NotImplementedError(
            "Reptile's outer update is not the gradient of a loss; use meta_step"
        )

    def meta_step(self, episodes: Sequence[Episode], optimizer: torch.optim.Optimizer) -> MetaLoss:
        """Adapt to each episode, set ``grad = theta - mean(phi)`` and step ``optimizer``.

        Returns the loss and accuracy of the adapted weights on all the task's images.
        """
        c = self.config
        theta = {k: v.detach() for k, v in self.weights().items()}
        diff = {k: torch.zeros_like(v) for k, v in theta.items()}
        loss, hits, count = 0.0, 0, 0
        for batch in task_batches(episodes, self.batch_tasks):
            images = torch.cat([batch.support, batch.query], 1)
            labels = torch.cat([batch.support_labels, batch.query_labels], 1)
            n = labels.shape[1]
            size = c.inner_batch if 0 < c.inner_batch < n else n
            order = interleaved(labels[0], batch.n_way)

            def loss_fn(
                fast: Params, step: int, images=images, labels=labels, order=order, size=size
            ):
                idx = order[(step * size + torch.arange(size)) % len(order)]
                return task_losses(self.task_logits(fast, images[:, idx]), labels[:, idx]), None

            fast = self.task_weights(batch.tasks, batch.n_way, detach=True)
            states = inner_loop(
                fast,
                loss_fn,
                c.inner_steps,
                self.inner_update(None),
                False,
                evaluate_last=False,
                tied_head=True,
            )
            phi = {k: v.detach() for k, v in last(states).fast.items()}
            with torch.no_grad():
                out = self.task_logits(phi, images)
                loss += float(task_losses(out, labels))
                hits += correct(out, labels)
                count += labels.numel()
                for k, v in phi.items():
                    if k in (HEAD_W, HEAD_B):
                        v = v.mean(1, keepdim=True)  # the shared row vs its n_way copies
                    diff[k] += (theta[k] - v).sum(0)
        optimizer.zero_grad(set_to_none=True)
        for k, p in self.weights().items():
            p.grad = diff[k] / len(episodes)
        optimizer.step()
        return MetaLoss(torch.tensor(loss / len(episodes)), hits / max(count, 1))
