"""Siamese networks (Koch, Zemel & Salakhutdinov, 2015, "Siamese Neural Networks for One-shot
Image Recognition"): a twin network judges whether two images show the same class.

Twin: a backbone from the factory, then a fully connected sigmoid layer, ``h(x)`` ``(features,)``
(paper: 4096 units after its own 4 convolutions). Similarity logit of a pair:
``s(x1, x2) = sum_j alpha_j |h(x1)_j - h(x2)_j| + beta`` (weighted L1 distance), ``p(same) =
sigmoid(s)``; symmetric by construction. Training: balanced same/different pairs drawn from each
training episode's images (support and query), each image distorted by a random affine
transformation as in the paper's §4.1 (rotation ±10°, shear ±0.3, scale 0.8-1.2, translation
±2 px, each component applied with probability 1/2), binary cross-entropy. The pairs and the
distortions come from a generator seeded by the episode's contents (``episode_generator``), never
from global state, and distortions are applied in ``meta_loss`` only, never when adapting or
classifying.

Classification: a query's score for a class is its largest similarity logit to that class's
support images (``shot_pooling="max"``: the most similar support image, the paper's one-shot
rule; ``"mean"``: the mean logit). Probabilities are the softmax of those scores.
"""

from __future__ import annotations

import math
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
    parse_bool,
    step_zero,
)
from core.algorithms.model_based import check_no_steps, episode_generator
from core.data.episodes import Episode
from core.models.backbones import build_backbone, check_backbone

SHOT_POOLINGS = ("max", "mean")
#: the paper's distortion ranges (§4.1): degrees, shear, scale, pixels
ROTATION, SHEAR, SCALE, TRANSLATION = 10.0, 0.3, (0.8, 1.2), 2.0
#: salt of ``episode_generator`` for the pairs and distortions
SALT = 1


@dataclass(frozen=True)
class SiameseConfig(BackboneConfig):
    features: int = field(
        default=256, metadata={"help": "units of the sigmoid feature layer (paper: 4096)"}
    )
    shot_pooling: str = field(
        default="max",
        metadata={
            "help": "k-shot class score: max (the most similar support image) or mean similarity",
            "choices": SHOT_POOLINGS,
        },
    )
    distortions: bool = field(
        default=True, metadata={"help": "random affine distortions of training pairs (paper)"}
    )
    offset_lr: float = field(
        default=100.0,
        metadata={
            "help": "learning rate of the similarity offset beta, as a multiple of --lr (a "
            "layer's own rate, as in the paper): it has to keep pace with the sum of the "
            "features' weighted distances"
        },
    )
    feature_l2: float = field(
        default=0.0,
        metadata={
            "help": "L2 penalty on the sigmoid feature layer's weights, added to the loss (the "
            "paper's per-layer L2); keeps the features from saturating into a binary code"
        },
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "distortions", parse_bool(self.distortions, "distortions"))
        if self.features < 1:
            raise ValueError("features must be at least 1")
        if not (math.isfinite(self.offset_lr) and 0 < self.offset_lr <= 10_000):
            raise ValueError("offset_lr must be a positive number of at most 10,000")
        if not (math.isfinite(self.feature_l2) and 0 <= self.feature_l2 <= 1):
            raise ValueError("feature_l2 must be a number from 0 to 1")
        if self.shot_pooling not in SHOT_POOLINGS:
            raise ValueError(
                f"shot_pooling must be one of {', '.join(SHOT_POOLINGS)}, not {self.shot_pooling!r}"
            )
        check_backbone(self.backbone, self.in_channels, self.input_size, self.hidden)


def balanced_pairs(
    labels: torch.Tensor, count: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``count`` pairs (rounded up to even) of indices into ``labels`` ``(n,)``: half of them
    same-class (two different images), half different-class. Returns ``a``, ``b`` ``(m,)`` and
    ``same`` ``(m,)`` (bool). Needs a class with two images and two classes."""
    n = len(labels)
    same_class = labels.unsqueeze(0) == labels.unsqueeze(1)
    eye = torch.eye(n, dtype=torch.bool, device=labels.device)
    same_ok, diff_ok = same_class & ~eye, ~same_class
    if not bool(same_ok.any()) or not bool(diff_ok.any()):
        raise ValueError("pairs need a class with two images and at least two classes")
    half = math.ceil(count / 2)
    out = []
    for ok in (same_ok, diff_ok):
        anchors = torch.nonzero(ok.any(1)).flatten()
        a = anchors[torch.randint(len(anchors), (half,), generator=generator)]
        # a uniform partner among the allowed ones: argmax of random keys on the allowed set
        keys = torch.rand(half, n, generator=generator).to(labels.device)
        b = torch.where(ok[a], keys, torch.full_like(keys, -1.0)).argmax(1)
        out.append((a, b))
    a = torch.cat([out[0][0], out[1][0]])
    b = torch.cat([out[0][1], out[1][1]])
    same = torch.arange(2 * half, device=labels.device) < half
    return a, b, same


def random_affine(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Distort each image of ``(n, C, S, S)`` by a random affine map (the paper's ranges, each
    component with probability 1/2); zero padding (ink-normalised background)."""
    n, _, size, _ = images.shape
    u = torch.rand(n, 8, generator=generator, dtype=torch.float64)
    on = torch.rand(n, 4, generator=generator) < 0.5  # rotation, shear, scale, translation
    theta = torch.where(on[:, 0], (2 * u[:, 0] - 1) * math.radians(ROTATION), 0.0)
    shear = torch.where(on[:, 1:2], (2 * u[:, 1:3] - 1) * SHEAR, 0.0)
    low, high = SCALE
    scale = torch.where(on[:, 2:3], low + (high - low) * u[:, 3:5], 1.0)
    shift = torch.where(on[:, 3:4], (2 * u[:, 5:7] - 1) * TRANSLATION * 2 / size, 0.0)
    cos, sin = torch.cos(theta), torch.sin(theta)
    rot = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1)
    one = torch.ones(n, dtype=torch.float64)
    shr = torch.stack([torch.stack([one, shear[:, 0]], 1), torch.stack([shear[:, 1], one], 1)], 1)
    mat = rot @ shr @ torch.diag_embed(scale)
    affine = torch.cat([mat, shift.unsqueeze(2)], 2).to(images.dtype).to(images.device)
    grid = F.affine_grid(affine, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, padding_mode="zeros", align_corners=False)


class SiameseNetwork(Learner):
    name = "siamese"
    capabilities = Capabilities(
        adapt_steps=False, lr_override="", embedding=True, live_view="similarity"
    )

    def __init__(self, config: SiameseConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or SiameseConfig()
        self.backbone = build_backbone(c.backbone, c.in_channels, c.input_size, c.hidden)
        self.fc = nn.Linear(self.backbone.out_features, c.features)
        self.alpha = nn.Linear(c.features, 1)  # the weights alpha_j and the offset beta

    def adapt_defaults(self) -> tuple[int, float | None]:
        return 0, None

    def lr_scales(self) -> dict[str, float]:
        """The offset beta at ``offset_lr`` times the rate. At the same rate as the weights,
        Adam moves each alpha_j by about the rate per step, so when every pair's logit is too
        low (all distances are positive) the weights of uninformative features rise together
        faster than beta can: noise that took a warm-started twin from 90 to 62 % on Lake's
        within-alphabet 20-way task in 60 steps, pairs still judged at chance (issue 33)."""
        return {"alpha.bias": self.config.offset_lr}

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Twin features ``h`` ``(n, features)`` in (0, 1) of ``images`` ``(n, C, H, W)``."""
        return torch.sigmoid(self.fc(self.backbone(images)))

    def similarity_logits(self, h1: torch.Tensor, h2: torch.Tensor) -> torch.Tensor:
        """All pairs: features ``(n, F)`` and ``(m, F)`` -> logits ``(n, m)`` of "same class"."""
        dist = (h1.unsqueeze(1) - h2.unsqueeze(0)).abs()
        return self.alpha(dist).squeeze(-1)

    def pair_logits(self, h1: torch.Tensor, h2: torch.Tensor) -> torch.Tensor:
        """Matched pairs: features ``(m, F)`` twice -> logits ``(m,)``."""
        return self.alpha((h1 - h2).abs()).squeeze(-1)

    def episode_pairs(
        self, episode: Episode
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The training pairs of ``episode``: first and second images ``(m, C, H, W)`` (distorted
        when ``distortions``), ``same`` ``(m,)`` and the pairs' labels ``(m,)`` of the first."""
        images = torch.cat([episode.support, episode.query])
        labels = torch.cat([episode.support_labels, episode.query_labels])
        gen = episode_generator(episode.support, episode.query, salt=SALT)
        a, b, same = balanced_pairs(labels, len(images), gen)
        first, second = images[a], images[b]
        if self.config.distortions:
            first, second = random_affine(first, gen), random_affine(second, gen)
        return first, second, same, labels[a]

    def meta_loss(self, episodes: Sequence[Episode]) -> MetaLoss:
        """Binary cross-entropy of same/different over balanced pairs of each episode's
        images, plus ``feature_l2`` times the feature layer's squared weights; ``accuracy``:
        the fraction of pairs judged right."""
        losses, hits, count = [], 0, 0
        for ep in episodes:
            first, second, same, _ = self.episode_pairs(ep)
            h = self.embed(torch.cat([first, second]))
            logits = self.pair_logits(h[: len(first)], h[len(first) :])
            target = same.to(logits.dtype)
            losses.append(F.binary_cross_entropy_with_logits(logits, target))
            hits += int(((logits.detach() > 0) == same).sum())
            count += len(same)
        loss = torch.stack(losses).mean()
        if self.config.feature_l2:
            loss = loss + self.config.feature_l2 * self.fc.weight.square().sum()
        return MetaLoss(loss, hits / max(count, 1))

    def adapt(
        self,
        support: torch.Tensor,
        support_labels: torch.Tensor,
        query: torch.Tensor | None = None,
        steps: int | None = None,
        lr: float | None = None,
    ) -> Iterator[AdaptStep]:
        """Step 0 only: embed the support set (undistorted; ``lr`` is unused)."""
        n_way = self.support_ways(support, support_labels)
        check_no_steps(steps, "Siamese networks")
        self.eval()
        with torch.no_grad():
            feats = self.embed(support)
        classifier = SiameseClassifier(self, feats, support_labels, n_way)
        # the support's own score: leave each image out of its class when the class has others
        sims = classifier.support_similarities()
        logits = classifier.pool(sims)
        loss = F.cross_entropy(logits, support_labels)
        yield step_zero(classifier, logits, support_labels, loss, query)


@dataclass(frozen=True)
class SiameseClassifier:
    """The adapted classifier: support features ``(n_s, F)`` with labels ``(n_s,)``."""

    learner: SiameseNetwork
    support_features: torch.Tensor
    support_labels: torch.Tensor
    n_way: int

    def pool(self, sims: torch.Tensor) -> torch.Tensor:
        """Per-support logits ``(n, n_s)`` -> class scores ``(n, n_way)`` (max or mean per
        class; ``-inf`` entries are left out)."""
        member = F.one_hot(self.support_labels, self.n_way).T.bool()  # (n_way, n_s)
        masked = torch.where(member.unsqueeze(0), sims.unsqueeze(1), -math.inf)
        if self.learner.config.shot_pooling == "max":
            return masked.amax(2)
        finite = torch.isfinite(masked)
        total = torch.where(finite, masked, 0.0).sum(2)
        return total / finite.sum(2).clamp(min=1)

    def similarity_logits(self, images: torch.Tensor) -> torch.Tensor:
        """``(n, C, H, W)`` -> ``(n, n_s)`` similarity logits to each support image."""
        with torch.no_grad():
            return self.learner.similarity_logits(self.learner.embed(images), self.support_features)

    def similarities(self, images: torch.Tensor) -> torch.Tensor:
        """``(n, C, H, W)`` -> ``(n, n_s)``: p(same class) to each support image, in [0, 1]
        (the window's live view)."""
        return torch.sigmoid(self.similarity_logits(images))

    def support_similarities(self) -> torch.Tensor:
        """``(n_s, n_s)`` logits among the support images, each image's own entry left out when
        its class has other images (else its own: one shot cannot score itself otherwise)."""
        with torch.no_grad():
            sims = self.learner.similarity_logits(self.support_features, self.support_features)
        counts = torch.bincount(self.support_labels, minlength=self.n_way)[self.support_labels]
        eye = torch.eye(len(sims), dtype=torch.bool, device=sims.device)
        return torch.where(eye & (counts > 1).unsqueeze(1), -math.inf, sims)

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """``(n, C, H, W)`` -> class scores ``(n, n_way)``; each image independently."""
        return self.pool(self.similarity_logits(images))
