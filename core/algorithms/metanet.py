"""MetaNet (Munkhdalai & Yu, 2017, "Meta Networks"): slow weights learned across tasks plus fast
weights generated from per-example loss gradients of the support set (meta information), on the
last two layers, combined by layer augmentation.

Network: a backbone from the factory (``e``, ``(n, d)``, slow weights only), an augmented hidden
layer and an augmented output layer::

    z = relu(Q e + b_Q) + relu(Q* e)                (hidden layer: slow Q, task-level fast Q*)
    logits = (w z + b) 1_N + W*_x z                 (output: slow row shared by the N classes,
                                                     example-level fast W*_x, (N, width))

Fast weights, from the support set only:
- ``Q*`` (the paper's task-level fast weights of the representation ``u``): the representation
  loss is the paper's contrastive loss on support pairs, ``BCE(a cos(z_i, z_j) + c, same_ij)``
  with the slow ``z``; each example's gradient w.r.t. ``Q`` (``(width, d)``, the outer product
  of its pre-activation gradient and ``e_i``) goes through the coordinate-wise network ``d``;
  ``Q*`` is the mean over the support examples.
- ``W*_i`` (the paper's example-level fast weights of the base learner, stored in memory):
  the gradient of example ``i``'s cross-entropy under the slow output layer,
  ``(p_i - y_i) z_i^T`` ``(N, width)``, through the coordinate-wise network ``m``.
- A query ``x`` reads the memory by attention over the support keys ``z_i``:
  ``W*_x = sum_i softmax_i(s cos(z_x, z_i)) W*_i``.
Gradients enter ``d`` and ``m`` preprocessed as in Andrychowicz et al. (``(log|g|/p, sign g)``).
Per-example gradients are computed in closed form for these two linear layers only; the
backbone never needs them. Without a support set (``Q* = 0``, ``W* = 0``) the network is the
slow network (tested); the shared slow output row makes the slow network class-agnostic, so all
class information comes from the fast weights.
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
    episodes_loss,
    step_zero,
)
from core.algorithms.model_based import check_no_steps, preprocess
from core.data.episodes import Episode
from core.models.backbones import build_backbone, check_backbone


@dataclass(frozen=True)
class MetaNetConfig(BackboneConfig):
    width: int = field(default=64, metadata={"help": "units of the augmented hidden layer"})
    meta_hidden: int = field(
        default=20, metadata={"help": "units of the fast-weight generators m and d (2 layers)"}
    )

    def __post_init__(self) -> None:
        if self.width < 1:
            raise ValueError("width must be at least 1")
        if self.meta_hidden < 1:
            raise ValueError("meta_hidden must be at least 1")
        check_backbone(self.backbone, self.in_channels, self.input_size, self.hidden)


def generator_net(hidden: int) -> nn.Sequential:
    """Coordinate-wise fast-weight generator: preprocessed gradient ``(..., 2)`` -> ``(..., 1)``."""
    return nn.Sequential(
        nn.Linear(2, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1)
    )


@dataclass(frozen=True)
class FastWeights:
    """What the support set leaves: ``q_star`` ``(width, d)``, memory keys ``(n_s, width)`` and
    values ``(n_s, n_way, width)`` (example-level output-layer fast weights)."""

    q_star: torch.Tensor
    keys: torch.Tensor
    values: torch.Tensor

    @property
    def n_way(self) -> int:
        return self.values.shape[1]


class MetaNet(Learner):
    name = "metanet"
    capabilities = Capabilities(
        adapt_steps=False, lr_override="", embedding=True, live_view="attention"
    )

    def __init__(self, config: MetaNetConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or MetaNetConfig()
        self.backbone = build_backbone(c.backbone, c.in_channels, c.input_size, c.hidden)
        d = self.backbone.out_features
        self.slow_hidden = nn.Linear(d, c.width)
        self.slow_out = nn.Linear(c.width, 1)
        self.d_net = generator_net(c.meta_hidden)
        self.m_net = generator_net(c.meta_hidden)
        # contrastive pair scale/offset; attention sharpness over the memory (cosines are small)
        self.pair_scale = nn.Parameter(torch.tensor(5.0))
        self.pair_bias = nn.Parameter(torch.tensor(0.0))
        self.attention_scale = nn.Parameter(torch.tensor(10.0))

    def adapt_defaults(self) -> tuple[int, float | None]:
        return 0, None

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Backbone embeddings ``e`` ``(n, d)`` of ``images`` ``(n, C, H, W)``."""
        return self.backbone(images)

    def hidden_layer(self, e: torch.Tensor, q_star: torch.Tensor | None) -> torch.Tensor:
        """The augmented hidden layer: ``(n, d)`` -> ``(n, width)``; ``q_star`` None: slow only."""
        z = F.relu(self.slow_hidden(e))
        return z if q_star is None else z + F.relu(e @ q_star.T)

    def slow_logits(self, e: torch.Tensor, n_way: int) -> torch.Tensor:
        """The slow network's logits ``(n, n_way)`` (the shared row, equal for every class)."""
        return self.slow_out(self.hidden_layer(e, None)).expand(-1, n_way)

    def fast_weights(
        self, e_s: torch.Tensor, labels: torch.Tensor, n_way: int, create_graph: bool
    ) -> FastWeights:
        """Fast weights from support embeddings ``(n_s, d)`` with labels ``(n_s,)``."""
        with torch.enable_grad():
            pre = self.slow_hidden(e_s)
            if not pre.requires_grad:  # test time: gradients w.r.t. the activations only
                pre = pre.detach().requires_grad_(True)
            z = F.relu(pre)
            n = len(labels)
            cos = F.cosine_similarity(z.unsqueeze(1), z.unsqueeze(0), dim=-1)
            same = (labels.unsqueeze(1) == labels.unsqueeze(0)).to(cos.dtype)
            pairs = torch.triu(torch.ones(n, n, dtype=torch.bool, device=z.device), 1)
            logit = self.pair_scale * cos + self.pair_bias
            if bool(pairs.any()):
                rep_loss = F.binary_cross_entropy_with_logits(logit[pairs], same[pairs])
                (g_pre,) = torch.autograd.grad(rep_loss, pre, create_graph=create_graph)
            else:  # one support image: no pair, no representation gradient
                g_pre = torch.zeros_like(pre)
        per_example = g_pre.unsqueeze(2) * e_s.unsqueeze(1)  # (n_s, width, d)
        q_star = self.d_net(preprocess(per_example)).squeeze(-1).mean(0)
        z = self.hidden_layer(e_s, q_star)
        probs = torch.softmax(self.slow_out(z).expand(-1, n_way), 1)
        delta = probs - F.one_hot(labels, n_way).to(probs.dtype)  # dCE/dlogits, (n_s, n_way)
        grads = delta.unsqueeze(2) * z.unsqueeze(1)  # (n_s, n_way, width)
        values = self.m_net(preprocess(grads)).squeeze(-1)
        return FastWeights(q_star, z, values)

    def memory_attention(self, z: torch.Tensor, fast: FastWeights) -> torch.Tensor:
        """How hidden representations ``z`` ``(n, width)`` read the memory: softmax attention
        ``(n, n_s)`` over the support keys (each row sums to 1)."""
        att = F.cosine_similarity(z.unsqueeze(1), fast.keys.unsqueeze(0), dim=-1)
        return torch.softmax(self.attention_scale * att, 1)

    def fast_logits(self, e: torch.Tensor, fast: FastWeights) -> torch.Tensor:
        """Logits ``(n, n_way)`` of embeddings ``(n, d)`` under the slow and fast weights."""
        z = self.hidden_layer(e, fast.q_star)
        att = self.memory_attention(z, fast)  # (n, n_s)
        w_star = torch.einsum("qs,swk->qwk", att, fast.values)  # (n, n_way, width)
        return self.slow_out(z) + torch.einsum("qwk,qk->qw", w_star, z)

    def episode_logits(self, episode: Episode) -> torch.Tensor:
        """Query logits ``(n_query, n_way)`` of one episode, differentiable."""
        e = self.backbone(torch.cat([episode.support, episode.query]))
        n_s = len(episode.support)
        fast = self.fast_weights(e[:n_s], episode.support_labels, episode.n_way, True)
        return self.fast_logits(e[n_s:], fast)

    def meta_loss(self, episodes: Sequence[Episode]) -> MetaLoss:
        return episodes_loss(episodes, self.episode_logits, F.cross_entropy)

    def adapt(
        self,
        support: torch.Tensor,
        support_labels: torch.Tensor,
        query: torch.Tensor | None = None,
        steps: int | None = None,
        lr: float | None = None,
    ) -> Iterator[AdaptStep]:
        """Step 0 only: generate the fast weights from the support set (``lr`` is unused)."""
        n_way = self.support_ways(support, support_labels)
        check_no_steps(steps, "MetaNets")
        self.eval()
        with torch.no_grad():
            fast = self.fast_weights(self.embed(support), support_labels, n_way, False)
        classifier = MetaNetClassifier(self, fast)
        logits = classifier.logits(support)
        loss = F.cross_entropy(logits, support_labels)
        yield step_zero(classifier, logits, support_labels, loss, query)


@dataclass(frozen=True)
class MetaNetClassifier:
    """The adapted classifier: the learner under the support set's fast weights."""

    learner: MetaNet
    fast: FastWeights

    @property
    def n_way(self) -> int:
        return self.fast.n_way

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """``(n, C, H, W)`` -> ``(n, n_way)``; each image independently of the others."""
        with torch.no_grad():
            return self.learner.fast_logits(self.learner.embed(images), self.fast)

    def attention(self, images: torch.Tensor) -> torch.Tensor:
        """``(n, C, H, W)`` -> ``(n, n_support)``: each image's read of the memory of
        example-level fast weights, one weight per support image (rows sum to 1)."""
        with torch.no_grad():
            learner = self.learner
            z = learner.hidden_layer(learner.embed(images), self.fast.q_star)
            return learner.memory_attention(z, self.fast)
