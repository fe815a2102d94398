"""Prototypical Networks (Snell et al., 2017): squared Euclidean distance to class means.

Adaptation: step 0 embeds the support set and computes one prototype per class. Optional
fine-tuning steps then train a linear head initialised from the prototypes (with W = 2c and
b = -|c|^2 its logits equal the negative squared distances up to a per-query constant, so step 0
and the prototype classifier agree) on the frozen support embeddings, giving a real inner-loop
loss curve. A model trained on plain Euclidean logits (``distance="euclidean"``) has embeddings
whose squared distances are far larger than its training logits (20-way 1-shot: mean top
probability 0.999 at 96 % accuracy); its head is scaled by ``1 / (2 m)``, ``m`` the mean
support-to-prototype distance (the first-order expansion of ``-|e - c|`` around ``m``), so its
probabilities are near those it was trained to give. Predictions do not change.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from core.algorithms.base import (
    AdaptStep,
    BackboneConfig,
    Capabilities,
    Learner,
    MetaLoss,
    check_finite,
    episodes_loss,
)
from core.data.episodes import Episode
from core.models.backbones import build_backbone, check_backbone

DISTANCES = ("squared", "euclidean")


@dataclass(frozen=True)
class ProtoNetConfig(BackboneConfig):
    adapt_steps: int = field(
        default=0, metadata={"help": "fine-tuning steps of the prototype-initialised head"}
    )
    adapt_lr: float = field(
        default=0.01, metadata={"help": "learning rate of the head fine-tuning steps"}
    )
    distance: str = field(
        default="squared",
        metadata={
            "help": "distance whose negative is the training logit: squared Euclidean (the "
            "paper's) or Euclidean (easyfsl's); the nearest prototype, so the prediction, is "
            "the same for both",
            "choices": DISTANCES,
        },
    )

    def __post_init__(self) -> None:
        check_backbone(self.backbone, self.in_channels, self.input_size, self.hidden)
        if self.distance not in DISTANCES:
            raise ValueError(f"distance must be one of {', '.join(DISTANCES)}")


def prototypes(embeddings: torch.Tensor, labels: torch.Tensor, n_way: int) -> torch.Tensor:
    """Class means ``(n_way, d)`` of ``embeddings`` ``(n, d)`` with labels ``(n,)``."""
    sums = torch.zeros(n_way, embeddings.shape[1], dtype=embeddings.dtype, device=embeddings.device)
    sums.index_add_(0, labels, embeddings)
    counts = torch.bincount(labels, minlength=n_way).to(embeddings.dtype).unsqueeze(1)
    return sums / counts


def proto_logits(
    embeddings: torch.Tensor, protos: torch.Tensor, distance: str = "squared"
) -> torch.Tensor:
    """Negative (squared) Euclidean distances ``(n, n_way)`` from embeddings to prototypes."""
    d = torch.cdist(embeddings, protos)
    return -d if distance == "euclidean" else -d.pow(2)


@dataclass(frozen=True)
class LinearHeadClassifier:
    """Backbone (in eval mode, frozen) followed by a linear head ``(n_way, d)``."""

    backbone: nn.Module
    weight: torch.Tensor
    bias: torch.Tensor

    @property
    def n_way(self) -> int:
        return self.weight.shape[0]

    @torch.no_grad()
    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """``(n, C, H, W)`` -> ``(n, d)``."""
        return self.backbone(images)

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """``(n, C, H, W)`` -> ``(n, n_way)``."""
        return self.embed(images) @ self.weight.T + self.bias


class ProtoNet(Learner):
    name = "protonet"
    cpu_bf16_ok = True
    capabilities = Capabilities(
        adapt_steps=True,
        lr_override="learning rate of the fine-tuning steps of the prototype-initialised head",
        embedding=True,
    )

    def __init__(self, config: ProtoNetConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or ProtoNetConfig()
        self.backbone = build_backbone(c.backbone, c.in_channels, c.input_size, c.hidden)

    def adapt_defaults(self) -> tuple[int, float | None]:
        return self.config.adapt_steps, self.config.adapt_lr

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Backbone embeddings ``(n, d)`` of ``images`` ``(n, C, H, W)``: the space where the
        prototypes are class means."""
        return self.backbone(images)

    def episode_logits(self, episode: Episode) -> torch.Tensor:
        """Query logits ``(n_query, n_way)`` of one episode, differentiable w.r.t. the backbone."""
        images = torch.cat([episode.support, episode.query])
        emb = self.backbone(images)
        n_support = len(episode.support)
        protos = prototypes(emb[:n_support], episode.support_labels, episode.n_way)
        return proto_logits(emb[n_support:], protos, self.config.distance)

    def meta_loss(self, episodes: Sequence[Episode]) -> MetaLoss:
        return episodes_loss(episodes, self.episode_logits, F.cross_entropy)

    def _head_scale(self, support_emb: torch.Tensor, protos: torch.Tensor) -> float:
        """1 for the paper's squared distance; ``1 / (2 m)`` for a Euclidean-trained model."""
        if self.config.distance == "squared":
            return 1.0
        mean = float(torch.cdist(support_emb, protos).mean())
        return 1.0 / (2.0 * max(mean, 1e-6))

    def adapt(
        self,
        support: torch.Tensor,
        support_labels: torch.Tensor,
        query: torch.Tensor | None = None,
        steps: int | None = None,
        lr: float | None = None,
    ) -> Iterator[AdaptStep]:
        n_way = self.support_ways(support, support_labels)
        steps = self.config.adapt_steps if steps is None else steps
        lr = self.config.adapt_lr if lr is None else lr
        self.eval()
        with torch.no_grad():
            emb = self.backbone(support)
            query_emb = None if query is None else self.backbone(query)
            protos = prototypes(emb, support_labels, n_way)
        scale = self._head_scale(emb, protos)
        weight = (2.0 * scale * protos).requires_grad_(True)
        bias = (-scale * protos.pow(2).sum(1)).requires_grad_(True)
        initial = 0.0
        for step in range(steps + 1):
            logits = emb @ weight.T + bias
            loss = F.cross_entropy(logits, support_labels)
            loss_value = loss.item()
            initial = loss_value if step == 0 else initial
            check_finite(loss_value, step, initial)
            probs = None
            if query_emb is not None:
                with torch.no_grad():
                    probs = torch.softmax(query_emb @ weight.T + bias, dim=1)
            yield AdaptStep(
                step=step,
                total_steps=steps,
                loss=loss_value,
                support_accuracy=float((logits.argmax(1) == support_labels).float().mean()),
                query_probs=probs,
                classifier=LinearHeadClassifier(self.backbone, weight.detach(), bias.detach()),
            )
            if step < steps:
                grad_w, grad_b = torch.autograd.grad(loss, (weight, bias))
                with torch.no_grad():
                    weight = (weight - lr * grad_w).requires_grad_(True)
                    bias = (bias - lr * grad_b).requires_grad_(True)
