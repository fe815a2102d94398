"""Relation Networks (Sung et al., 2018): a learned relation module scores query-class pairs.

Embedding module: with ``backbone="conv4"`` the paper's Omniglot network, 4 x [conv3x3, BatchNorm,
ReLU], the first two unpadded and max-pooled, the last two padded and not pooled, so 28 x 28
images become ``(hidden, 5, 5)`` feature maps (it is not the ``Conv4`` of the other learners,
whose 1 x 1 maps at 28 px leave the relation module nothing to convolve). With ``resnet12`` or
``resnet18`` the backbone's last feature map before its global pooling (``feature_map``; 84 px
through ResNet-12: ``(640, 5, 5)``). The relation module's two pooled blocks need maps of at
least 4 x 4, so the input must be at least 22 px (conv4), 64 px (resnet12) or 25 px (resnet18);
smaller inputs are refused with a ValueError saying so.

A class's feature map is the **mean** of its support examples' maps by default
(``class_pooling="sum"`` is the paper's element-wise sum; both are the same for 1 shot). The
mean keeps maps on one scale whatever the number of shots, so one checkpoint serves 1..10
examples per class and unequal counts; with the sum, a class with more examples has larger maps
and its scores shift.

Relation module: the class map and the query map are concatenated along channels, then
2 x [conv3x3, BatchNorm, ReLU, maxpool2], a hidden fully-connected layer (``relation_hidden``
units, ReLU) and one output unit. Its pre-sigmoid output ``z`` is the classifier's logit; the
relation score is ``sigmoid(z)`` in [0, 1] and is not normalised over classes.

Loss: ``loss="mse"`` (paper): mean squared error between relation scores and one-hot targets;
``loss="ce"``: cross-entropy on ``softmax(z)`` over classes.

Probabilities: ``softmax(z)`` over classes, i.e. each class's relation *odds*
``r / (1 - r)`` normalised to sum 1. The ranking equals that of the scores; when every class scores
low, the probabilities spread out instead of being forced onto one class.

The first relation convolution acts on ``[class, query]``; by linearity it equals
``W_c * class + W_q * query + b``, computed once per class map and once per query map and then
broadcast over pairs (``n_way + n_query`` convolutions instead of ``n_way * n_query``).

Adaptation is step 0 only: embed the support set and pool the class maps.
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
    backbone_field,
    episodes_loss,
    in_channels_field,
    step_zero,
)
from core.algorithms.protonet import prototypes
from core.data.episodes import Episode
from core.models.backbones import (
    MIN_INPUT_SIZE,
    build_backbone,
    check_backbone,
    feature_map_side,
)
from core.models.batchnorm import own_batch_statistics
from core.models.conv4 import conv_block

LOSSES = ("mse", "ce")
CLASS_POOLINGS = ("mean", "sum")
#: the relation module's two pooled blocks need feature maps at least this wide
MIN_MAP_SIDE = 4


@dataclass(frozen=True)
class RelationConfig(BackboneConfig):
    backbone: str = backbone_field(
        "embedding: conv4 (the paper's 4-conv network, 5 x 5 maps at 28 px), resnet12 or "
        "resnet18 (their last feature map)"
    )
    in_channels: int = in_channels_field()
    hidden: int = field(
        default=64,
        metadata={
            "help": "channels of the relation module (and of the conv4 embedding); "
            "resnet widths as in --hidden of the other learners"
        },
    )
    relation_hidden: int = field(
        default=8, metadata={"help": "units of the relation module's hidden layer (paper: 8)"}
    )
    loss: str = field(
        default="mse",
        metadata={
            "help": "mse: squared error of relation scores vs one-hot targets (paper); "
            "ce: cross-entropy on the softmax of relation logits",
            "choices": LOSSES,
        },
    )
    class_pooling: str = field(
        default="mean",
        metadata={
            "help": "combine a class's support feature maps by mean (robust to unequal "
            "shots) or sum (paper); identical for 1 shot",
            "choices": CLASS_POOLINGS,
        },
    )

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, not {self.loss!r}")
        if self.class_pooling not in CLASS_POOLINGS:
            raise ValueError(
                f"class_pooling must be one of {', '.join(CLASS_POOLINGS)}, "
                f"not {self.class_pooling!r}"
            )
        if self.relation_hidden < 1:
            raise ValueError("relation_hidden must be at least 1")
        check_backbone(self.backbone, self.in_channels, self.input_size, self.hidden)
        if map_side(self.backbone, self.input_size) < MIN_MAP_SIDE:
            least = min_relation_input(self.backbone)
            raise ValueError(
                f"input_size {self.input_size} is too small for relation with {self.backbone} "
                f"(at least {least}: feature maps of at least {MIN_MAP_SIDE} x {MIN_MAP_SIDE})"
            )


def feature_side(input_size: int) -> int:
    """Side of the embedding module's feature maps: two unpadded conv3x3 + maxpool2 stages."""
    side = input_size
    for _ in range(2):
        side = (side - 2) // 2
    return side


def map_side(backbone: str, input_size: int) -> int:
    """Side of the feature maps the relation module compares."""
    return (
        feature_side(input_size) if backbone == "conv4" else feature_map_side(backbone, input_size)
    )


def min_relation_input(backbone: str) -> int:
    """Smallest input side whose feature maps are at least ``MIN_MAP_SIDE`` wide."""
    size = MIN_INPUT_SIZE[backbone]
    while map_side(backbone, size) < MIN_MAP_SIDE:
        size += 1
    return size


def _block(in_channels: int, out_channels: int, padding: int, pool: bool) -> nn.Sequential:
    layers = [
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=padding),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
    ]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class RelationEmbedding(nn.Module):
    """Images ``(n, C, H, W)`` -> feature maps ``(n, hidden, s, s)`` (s = 5 for 28 x 28)."""

    def __init__(self, in_channels: int = 1, hidden: int = 64, input_size: int = 28) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            _block(in_channels, hidden, padding=0, pool=True),
            _block(hidden, hidden, padding=0, pool=True),
            _block(hidden, hidden, padding=1, pool=False),
            _block(hidden, hidden, padding=1, pool=False),
        )
        side = feature_side(input_size)
        self.map_shape = (hidden, side, side)
        self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x.contiguous(memory_format=torch.channels_last))

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """The same as ``forward``: ``(n, C, H, W)`` -> ``(n, hidden, s, s)``."""
        return self.forward(x)


class RelationModule(nn.Module):
    """Relation logits ``(n_query, n_way)`` of every (query map, class map) pair."""

    def __init__(
        self, hidden: int, side: int, relation_hidden: int, in_channels: int | None = None
    ) -> None:
        super().__init__()
        in_channels = hidden if in_channels is None else in_channels
        self.first = conv_block(2 * in_channels, hidden)  # its conv input is [class, query] maps
        self.second = conv_block(hidden, hidden)
        side = side // 2 // 2
        self.fc = nn.Sequential(
            nn.Linear(hidden * side * side, relation_hidden),
            nn.ReLU(),
            nn.Linear(relation_hidden, 1),
        )
        self.to(memory_format=torch.channels_last)

    def forward(self, query: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """Query maps ``(n_query, c, s, s)``, class maps ``(n_way, c, s, s)`` -> logits.

        Returns ``(n_query, n_way)``.
        """
        conv = self.first[0]
        c = classes.shape[1]
        w_class, w_query = conv.weight[:, :c], conv.weight[:, c:]
        by_class = F.conv2d(classes, w_class, conv.bias, padding=conv.padding)
        by_query = F.conv2d(query, w_query, None, padding=conv.padding)
        pairs = (by_query.unsqueeze(1) + by_class.unsqueeze(0)).flatten(0, 1)
        x = self.first[1:](pairs)
        x = self.second(x)
        return self.fc(x.flatten(1)).view(len(query), len(classes))

    def forward_concat(self, query: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """Reference: the paper's explicit channel concatenation of every pair (slow; for tests)."""
        n_query, n_way = len(query), len(classes)
        pairs = torch.cat(
            [
                classes.unsqueeze(0).expand(n_query, *classes.shape).flatten(0, 1),
                query.unsqueeze(1).expand(n_query, n_way, *query.shape[1:]).flatten(0, 1),
            ],
            dim=1,
        )
        x = self.second(self.first(pairs))
        return self.fc(x.flatten(1)).view(n_query, n_way)


def class_maps(
    maps: torch.Tensor, labels: torch.Tensor, n_way: int, pooling: str = "mean"
) -> torch.Tensor:
    """Per-class feature maps ``(n_way, c, s, s)`` from support maps ``(n, c, s, s)``."""
    mean = prototypes(maps.flatten(1), labels, n_way)
    if pooling == "sum":
        mean = mean * torch.bincount(labels, minlength=n_way).to(mean.dtype).unsqueeze(1)
    return mean.view(n_way, *maps.shape[1:])


def relation_loss(logits: torch.Tensor, labels: torch.Tensor, kind: str) -> torch.Tensor:
    """``mse``: mean squared error of ``sigmoid(logits)`` vs one-hot; ``ce``: cross-entropy."""
    if kind == "ce":
        return F.cross_entropy(logits, labels)
    target = F.one_hot(labels, logits.shape[1]).to(logits.dtype)
    return F.mse_loss(torch.sigmoid(logits), target)


@dataclass(frozen=True)
class RelationClassifier:
    """The adapted classifier: the relation module against class maps ``(n_way, c, s, s)``.

    ``logits(images, transductive=True)`` is the test protocol behind the paper's figures (its
    code never leaves training mode): every BatchNorm layer normalises with the statistics of the
    batch in front of it, the support set's for the class maps, the query batch's for the query
    maps and all (query, class) pairs' in the relation module; each answer then depends on the
    other queries. By default the running statistics serve, so each image is classified alone.
    """

    learner: RelationNetwork
    classes: torch.Tensor
    support: torch.Tensor | None = None
    support_labels: torch.Tensor | None = None

    @property
    def n_way(self) -> int:
        return len(self.classes)

    def logits(self, images: torch.Tensor, transductive: bool = False) -> torch.Tensor:
        """Pre-sigmoid relation logits ``(n, n_way)``; ``softmax`` gives the probabilities."""
        learner = self.learner
        with torch.no_grad():
            if not transductive:
                return learner.relation(learner.maps(images), self.classes)
            if self.support is None:
                raise ValueError("transductive logits need the classifier's support set")
            with own_batch_statistics(learner):
                maps = learner.maps(self.support)
                pooling = learner.config.class_pooling
                classes = class_maps(maps, self.support_labels, self.n_way, pooling)
                return learner.relation(learner.maps(images), classes)

    def scores(self, images: torch.Tensor) -> torch.Tensor:
        """Relation scores ``(n, n_way)`` in [0, 1] (not normalised over classes)."""
        return torch.sigmoid(self.logits(images))


class RelationNetwork(Learner):
    name = "relation"
    cpu_bf16_ok = True
    capabilities = Capabilities(
        adapt_steps=False, lr_override="", embedding=True, transductive=True
    )

    def __init__(self, config: RelationConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or RelationConfig()
        if c.backbone == "conv4":
            self.embedding = RelationEmbedding(c.in_channels, c.hidden, c.input_size)
        else:
            self.embedding = build_backbone(c.backbone, c.in_channels, c.input_size, c.hidden)
        channels, side, _ = self.embedding.map_shape
        self.relation = RelationModule(c.hidden, side, c.relation_hidden, channels)

    def adapt_defaults(self) -> tuple[int, float | None]:
        return 0, None

    def maps(self, images: torch.Tensor) -> torch.Tensor:
        """Feature maps ``(n, c, s, s)`` of ``images`` ``(n, C, H, W)``."""
        return self.embedding.feature_map(images)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Flattened feature maps ``(n, c * s * s)`` (the relation module's inputs)."""
        return self.maps(images).flatten(1)

    def episode_logits(self, episode: Episode) -> torch.Tensor:
        """Query relation logits ``(n_query, n_way)`` of one episode, differentiable."""
        maps = self.maps(torch.cat([episode.support, episode.query]))
        n_support = len(episode.support)
        classes = class_maps(
            maps[:n_support], episode.support_labels, episode.n_way, self.config.class_pooling
        )
        return self.relation(maps[n_support:], classes)

    def meta_loss(self, episodes: Sequence[Episode]) -> MetaLoss:
        def loss_of(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
            return relation_loss(logits, labels, self.config.loss)

        return episodes_loss(episodes, self.episode_logits, loss_of)

    def adapt(
        self,
        support: torch.Tensor,
        support_labels: torch.Tensor,
        query: torch.Tensor | None = None,
        steps: int | None = None,
        lr: float | None = None,
    ) -> Iterator[AdaptStep]:
        """Step 0 only: embed the support set (``steps`` must be None or 0; ``lr`` is unused)."""
        n_way = self.support_ways(support, support_labels)
        if steps:
            raise ValueError("Relation Networks have no fine-tuning steps; use 0 adaptation steps")
        self.eval()
        with torch.no_grad():
            maps = self.maps(support)
            classes = class_maps(maps, support_labels, n_way, self.config.class_pooling)
            logits = self.relation(maps, classes)
        classifier = RelationClassifier(self, classes, support, support_labels)
        loss = relation_loss(logits, support_labels, self.config.loss)
        yield step_zero(classifier, logits, support_labels, loss, query)
