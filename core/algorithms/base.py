"""The learner protocol every algorithm implements, and the records its generators yield.

A learner can (1) ``adapt`` to a labelled support set, yielding one ``AdaptStep`` per step, each
carrying the classifier as it stands after that step; (2) classify query images with that
classifier; (3) compute a meta-training loss on a batch of episodes (``meta_loss``).
Adaptation never mutates the learner's meta-trained weights.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import torch
from torch import nn

from core.data.episodes import Episode
from core.models.backbones import BACKBONE_HELP, BACKBONES, HIDDEN_HELP, IN_CHANNELS_HELP


class Classifier(Protocol):
    """An adapted classifier: images ``(n, C, H, W)`` -> logits ``(n, n_way)``."""

    n_way: int

    def logits(self, images: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class AdaptStep:
    """One adaptation step.

    ``step``: 0 for the state before any gradient step (for metric learners, the support set
    embedded); ``loss``/``support_accuracy``: on the support set at this step;
    ``query_probs``: ``(n_query, n_way)`` when query images were given, else None (gradient
    learners give them at every step for up to 16 queries, else after the last step only);
    ``classifier``: classifies new images as of this step.
    """

    step: int
    total_steps: int
    loss: float
    support_accuracy: float
    query_probs: torch.Tensor | None
    classifier: Classifier


@dataclass(frozen=True)
class MetaLoss:
    """Meta-training loss (a differentiable scalar) and query accuracy over a batch of episodes."""

    loss: torch.Tensor
    accuracy: float


@dataclass(frozen=True)
class Capabilities:
    """What a learner supports, declared by its class; callers (the GUI, the CLIs) read this
    instead of algorithm names or ``getattr`` guesses.

    ``adapt_steps``: adaptation takes gradient steps, so a steps override applies (else
    ``adapt(steps=k)`` with k > 0 raises ValueError); ``lr_override``: what ``adapt(lr=x)`` does,
    in words for the UI, "" when it does nothing; ``embedding``: ``embed(images) -> (n, d)``
    exists, so the embedding map can be drawn; ``max_ways``: the most classes ``adapt`` accepts
    (None: any number); ``episode_kind``: how it reads an episode, "episode" (N-way K-shot) or
    "sequence" (one image after the other with the previous label: ``--protocol sequence``);
    ``live_view``: what the window can show of the adapted classifier beside the loss curve,
    "memory" (``classifier.trace`` and ``classifier.read_weights(images)``), "similarity"
    (``classifier.similarities(images)``), "attention" (``classifier.attention(images)``, a
    read of the support set summing to 1) or "" (nothing more); ``transductive``: the adapted
    classifier's ``logits(images, transductive=True)`` normalises ``images`` with their own
    BatchNorm statistics, the test protocol behind the MAML, Reptile and Relation Networks papers'
    figures.
    """

    adapt_steps: bool
    lr_override: str
    embedding: bool
    max_ways: int | None = None
    episode_kind: str = "episode"
    live_view: str = ""
    transductive: bool = False


class Learner(nn.Module):
    """Base of all learners: holds the meta-trained weights and its frozen config dataclass.

    Every learner class declares ``capabilities`` and implements ``adapt_defaults``; those with
    ``capabilities.embedding`` also have ``embed(images) -> (n, d)``.
    """

    name: str = ""
    capabilities: ClassVar[Capabilities]

    def support_ways(self, support: torch.Tensor, labels: torch.Tensor) -> int:
        """``check_support`` with this learner's ``max_ways`` and input channels; n_way."""
        return check_support(support, labels, self.capabilities.max_ways, self.config.in_channels)

    def adapt_defaults(self) -> tuple[int, float | None]:
        """``(steps, lr)`` that ``adapt`` uses when given none, as meta-trained.

        ``(0, None)`` when no steps apply; ``lr`` is None when there is no single rate
        (Meta-SGD's learned per-weight rates).
        """
        raise NotImplementedError

    def adapt(
        self,
        support: torch.Tensor,
        support_labels: torch.Tensor,
        query: torch.Tensor | None = None,
        steps: int | None = None,
        lr: float | None = None,
    ) -> Iterator[AdaptStep]:
        """Adapt to ``support`` ``(n_support, C, H, W)`` with labels ``(n_support,)`` in
        0..n_way-1; ``query`` ``(n_query, C, H, W)`` gets probabilities in the records.

        ``steps``/``lr`` override ``adapt_defaults()`` (see ``capabilities``).
        """
        raise NotImplementedError

    def meta_loss(self, episodes: Sequence[Episode]) -> MetaLoss:
        """Differentiable meta-training loss over ``episodes`` and their query accuracy."""
        raise NotImplementedError

    def mixed_precision_ok(self) -> bool:
        """Whether meta-training may run under autocast (``core.train --amp``): metric and
        first-order learners; second-order meta-gradients stay in float32."""
        return True

    #: Whether ``--amp bf16`` may run on the CPU: CPU autocast keeps BatchNorm in the input's
    #: dtype, which works for backbone modules (float32 parameters) but not for functional fast
    #: weights; set by the learners that were tested with it (metric learners).
    cpu_bf16_ok: ClassVar[bool] = False

    def lr_scales(self) -> dict[str, float]:
        """Parameters (by ``named_parameters`` name) that meta-train at a multiple of the run's
        learning rate, as their own optimiser groups (``core.train``); default: none."""
        return {}

    def meta_step(self, episodes: Sequence[Episode], optimizer: torch.optim.Optimizer) -> MetaLoss:
        """One outer-loop update. Default: backpropagate ``meta_loss`` and step ``optimizer``.

        Learners whose outer update is not a gradient of a loss (Reptile) override this.
        """
        out = self.meta_loss(episodes)
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        optimizer.step()
        return out


def episodes_loss(
    episodes: Sequence[Episode],
    logits_of: Callable[[Episode], torch.Tensor],
    loss_of: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> MetaLoss:
    """Mean of ``loss_of(query logits, query labels)`` over ``episodes``, and query accuracy."""
    losses, correct, total = [], 0, 0
    for ep in episodes:
        logits = logits_of(ep)
        losses.append(loss_of(logits, ep.query_labels))
        correct += int((logits.argmax(1) == ep.query_labels).sum())
        total += len(ep.query_labels)
    return MetaLoss(torch.stack(losses).mean(), correct / max(total, 1))


def check_support(
    support: torch.Tensor,
    labels: torch.Tensor,
    max_ways: int | None = None,
    channels: int | None = None,
) -> int:
    """Validate a support set ``(n, C, H, W)`` with labels ``(n,)``; return n_way.

    ``max_ways``: the most classes allowed (``Capabilities.max_ways``); ``channels``: the
    image channels the model takes. Raise ValueError with a one-line reason.
    """
    if support.ndim != 4 or labels.ndim != 1 or len(support) != len(labels):
        raise ValueError("support must be (n, channels, H, W) with one label per image")
    if channels is not None and support.shape[1] != channels:
        raise ValueError(
            f"the images have {support.shape[1]} channel(s) but this model takes {channels}"
        )
    if len(labels) == 0:
        raise ValueError("the support set is empty: add at least one example to each class")
    n_way = int(labels.max()) + 1
    counts = torch.bincount(labels, minlength=n_way)
    if n_way < 2:
        raise ValueError("at least two classes with examples are needed to classify")
    if bool((counts == 0).any()):
        empty = ", ".join(str(i) for i in torch.nonzero(counts == 0).flatten().tolist())
        raise ValueError(f"class(es) {empty} have no examples; add one or remove the class")
    if max_ways is not None and n_way > max_ways:
        raise ValueError(f"{n_way} classes given; this learner takes at most {max_ways}")
    return n_way


def step_zero(
    classifier: Classifier,
    support_scores: torch.Tensor,
    labels: torch.Tensor,
    loss: torch.Tensor | float,
    query: torch.Tensor | None,
) -> AdaptStep:
    """The one record of a learner that adapts without gradient steps: its support ``loss``
    (checked finite), the accuracy of ``support_scores`` ``(n_support, n_way)``, and the query's
    probabilities under ``classifier``."""
    loss = float(loss)
    check_finite(loss, 0)
    return AdaptStep(
        step=0,
        total_steps=0,
        loss=loss,
        support_accuracy=float((support_scores.argmax(1) == labels).float().mean()),
        query_probs=None if query is None else torch.softmax(classifier.logits(query), 1),
        classifier=classifier,
    )


def final_step(steps: Iterator[AdaptStep]) -> AdaptStep:
    """Run an adaptation generator to the end and return its last record."""
    last = None
    for record in steps:
        last = record
    if last is None:
        raise RuntimeError("adaptation yielded no steps")
    return last


class AdaptationDiverged(ArithmeticError):
    """The adaptation loss exploded or became NaN (usually: the learning rate is too large)."""


#: A step's loss above this multiple of max(step-0 loss, 1) counts as divergence.
DIVERGENCE_FACTOR = 100.0


def check_finite(loss: float, step: int, initial: float | None = None) -> None:
    """Raise AdaptationDiverged when ``loss`` is NaN/inf or exploded relative to ``initial``."""
    exploded = initial is not None and loss > DIVERGENCE_FACTOR * max(initial, 1.0)
    if not math.isfinite(loss) or exploded:
        raise AdaptationDiverged(
            f"adaptation diverged at step {step} (loss {loss:.3g}); lower the learning rate"
        )


def parse_bool(value: object, name: str) -> bool:
    """A config flag given as a bool or, from the command line, as true/false/1/0/yes/no."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be true or false, not {value!r}")


def backbone_field(help_text: str = BACKBONE_HELP) -> Any:
    """The ``backbone`` field of a learner config: one of ``BACKBONES`` (default conv4)."""
    return field(default="conv4", metadata={"help": help_text, "choices": BACKBONES})


def in_channels_field() -> Any:
    """The ``in_channels`` field of a learner config (default 1: checkpoints of earlier
    releases lack it and were trained on grayscale drawings)."""
    return field(default=1, metadata={"help": IN_CHANNELS_HELP})


def hidden_field() -> Any:
    """The ``hidden`` (backbone width) field of a learner config (default 64)."""
    return field(default=64, metadata={"help": HIDDEN_HELP})


@dataclass(frozen=True)
class BackboneConfig:
    """The header every learner config shares: its backbone, the input's channels, the
    backbone's width and the input's side. A learner's config adds its own fields after these
    (and may redeclare one to change its help text or default)."""

    backbone: str = backbone_field()
    in_channels: int = in_channels_field()
    hidden: int = hidden_field()
    input_size: int = field(default=28, metadata={"help": "side of the square input images"})
