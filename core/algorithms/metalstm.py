"""Meta-LSTM (Ravi & Larochelle, 2017, "Optimization as a model for few-shot learning"): a
coordinate-wise LSTM meta-learner whose cell state is the learner's flat weights.

The learner is a backbone from the factory (Conv-4 by default) with the gradient learners'
BatchNorm (batch statistics, queries normalised with the support set's, ``norm="support"``) and
their shared head row repeated once per class (so any number of classes). Its weights, flattened,
are the cell state ``c`` of the meta-learner; every update, per coordinate::

    x_t = [preprocess(grad_t), preprocess(loss_t)]          (4 inputs, §3.3, p = 10)
    h_t = LSTM(x_t, h_{t-1})                                (first layer, ``lstm_hidden`` units)
    f_t = sigmoid(W_F [h_t, c_{t-1}, f_{t-1}] + b_F)        (forget gate: learned shrinkage)
    i_t = sigmoid(W_I [h_t, c_{t-1}, i_{t-1}] + b_I)        (input gate: learned learning rate)
    c_t = f_t * c_{t-1} - i_t * grad_t

``c_0`` (the learner's initial weights) is meta-learned with the LSTM. As in the paper, the
gradient and loss inputs are treated as constants by the meta-gradient (no second-order terms
through them); it flows through the chain of cell states and gates. The meta-gradient's norm is
clipped (``grad_clip``). ``adapt(lr=x)`` replaces the learned gates by plain SGD
(``i = x``, ``f = 1``), the baseline the GUI can set beside the learned optimiser.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

import torch
from torch import nn

from core.algorithms.base import (
    AdaptStep,
    BackboneConfig,
    MetaLoss,
    check_finite,
)
from core.algorithms.gradient import FastClassifier, GradientLearner, TaskBatch
from core.algorithms.head import correct, task_losses
from core.algorithms.inner_loop import LIVE_QUERIES, Params
from core.algorithms.model_based import PREPROCESS_P, preprocess
from core.data.episodes import Episode
from core.models.backbones import check_backbone


@dataclass(frozen=True)
class MetaLSTMConfig(BackboneConfig):
    inner_steps: int = field(
        default=5, metadata={"help": "LSTM updates of the learner per episode in meta-training"}
    )
    adapt_steps: int = field(
        default=5, metadata={"help": "LSTM updates when adapting at test time and in the GUI"}
    )
    lstm_hidden: int = field(
        default=20, metadata={"help": "units of the coordinate-wise first LSTM layer (paper: 20)"}
    )
    grad_clip: float = field(
        default=0.25, metadata={"help": "clip the meta-gradient to this norm (0: no clipping)"}
    )
    preprocess_p: float = field(
        default=PREPROCESS_P, metadata={"help": "p of the gradient/loss preprocessing (§3.3)"}
    )

    def __post_init__(self) -> None:
        if self.inner_steps < 1:
            raise ValueError("inner_steps must be at least 1")
        if self.adapt_steps < 0:
            raise ValueError("adapt_steps must be >= 0")
        if self.lstm_hidden < 1:
            raise ValueError("lstm_hidden must be at least 1")
        if self.grad_clip < 0:
            raise ValueError("grad_clip must be >= 0 (0: no clipping)")
        if not self.preprocess_p > 0:
            raise ValueError("preprocess_p must be positive")
        check_backbone(self.backbone, self.in_channels, self.input_size, self.hidden)


@dataclass(frozen=True)
class LSTMState:
    """Per-coordinate state between updates: first-layer ``(h, c)`` ``(P, lstm_hidden)`` each,
    previous gates ``f``, ``i`` ``(P,)``."""

    h: torch.Tensor
    cell: torch.Tensor
    f: torch.Tensor
    i: torch.Tensor


class MetaLSTMOptimizer(nn.Module):
    """The two-layer coordinate-wise meta-learner: an ``nn.LSTMCell`` over the 4 preprocessed
    inputs, then the gates ``f``/``i`` from linear layers over ``[h, weight, previous gate]``."""

    def __init__(self, lstm_hidden: int = 20, p: float = PREPROCESS_P) -> None:
        super().__init__()
        self.p = p
        self.lstm = nn.LSTMCell(4, lstm_hidden)
        self.forget = nn.Linear(lstm_hidden + 2, 1)
        self.input_gate = nn.Linear(lstm_hidden + 2, 1)
        # paper: forget gate near 1 (bias 4..6), input gate small (bias -5..-4), tiny weights
        with torch.no_grad():
            for layer, low, high in ((self.forget, 4.0, 6.0), (self.input_gate, -5.0, -4.0)):
                layer.weight.uniform_(-0.01, 0.01)
                layer.bias.uniform_(low, high)

    def initial_state(self, weights: torch.Tensor) -> LSTMState:
        """Zero state for flat weights ``(P,)``."""
        n, k = weights.numel(), self.lstm.hidden_size
        zeros = weights.new_zeros(n, k)
        return LSTMState(zeros, zeros, weights.new_zeros(n), weights.new_zeros(n))

    def forward(
        self, weights: torch.Tensor, grad: torch.Tensor, loss: torch.Tensor, state: LSTMState
    ) -> tuple[torch.Tensor, LSTMState]:
        """One update of flat ``weights`` ``(P,)`` given their loss gradient ``(P,)`` and the loss
        (a scalar); returns the new weights ``(P,)`` and state. ``grad`` and ``loss`` enter as
        constants (detached), as in the paper."""
        grad, loss = grad.detach(), loss.detach()
        x = torch.cat([preprocess(grad, self.p), preprocess(loss, self.p).expand(len(grad), 2)], 1)
        h, cell = self.lstm(x, (state.h, state.cell))
        w = weights.unsqueeze(1)
        f = torch.sigmoid(self.forget(torch.cat([h, w, state.f.unsqueeze(1)], 1))).squeeze(1)
        i = torch.sigmoid(self.input_gate(torch.cat([h, w, state.i.unsqueeze(1)], 1))).squeeze(1)
        return f * weights - i * grad, LSTMState(h, cell, f, i)


def sgd_gates(weights: torch.Tensor, grad: torch.Tensor, lr: float) -> torch.Tensor:
    """The cell update with the gates fixed to plain SGD (``i = lr``, ``f = 1``)."""
    return 1.0 * weights - lr * grad


class MetaLSTM(GradientLearner):
    name = "metalstm"
    capabilities = replace(
        GradientLearner.capabilities,
        lr_override="plain SGD at this rate instead of the learned optimiser "
        "(input gate = lr, forget gate = 1)",
    )

    def __init__(self, config: MetaLSTMConfig | None = None) -> None:
        super().__init__(config or MetaLSTMConfig())
        self.optimizer_net = MetaLSTMOptimizer(self.config.lstm_hidden, self.config.preprocess_p)

    def adapt_defaults(self) -> tuple[int, float | None]:
        return self.config.adapt_steps, None

    def mixed_precision_ok(self) -> bool:
        """No autocast: float16 gates near 1 are quantised (spacing 5e-4), which would turn the
        learned shrinkage ``f * c`` into steps of the precision's size."""
        return False

    def flat_weights(self, n_way: int) -> tuple[torch.Tensor, dict[str, torch.Size]]:
        """The meta-learned initial weights ``c_0`` ``(P,)`` (head row repeated ``n_way``
        times; differentiable w.r.t. the learner's parameters) and the shape of each entry."""
        params = self.task_weights(1, n_way)
        shapes = {k: v.shape for k, v in params.items()}
        return torch.cat([v.reshape(-1) for v in params.values()]), shapes

    @staticmethod
    def unflatten(flat: torch.Tensor, shapes: dict[str, torch.Size]) -> Params:
        """Flat weights ``(P,)`` -> fast-weight dict (task dimension 1), views of ``flat``."""
        sizes = [s.numel() for s in shapes.values()]
        parts = torch.split(flat, sizes)
        return {k: p.view(s) for (k, s), p in zip(shapes.items(), parts, strict=True)}

    def support_loss(
        self,
        flat: torch.Tensor,
        shapes: dict[str, torch.Size],
        images: torch.Tensor,
        labels: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Support loss at ``flat`` (detached), its gradient ``(P,)`` and the logits
        ``(1, n, n_way)`` of ``images`` ``(1, n, C, H, W)`` (the support first, labels
        ``(n_s,)``)."""
        n_s = len(labels)
        w = flat.detach().requires_grad_(True)
        out = self.task_logits(self.unflatten(w, shapes), images, n_stats=n_s)
        loss = task_losses(out[:, :n_s], labels.unsqueeze(0))
        (grad,) = torch.autograd.grad(loss, w)
        return loss.detach(), grad, out.detach()

    def run(
        self,
        support: torch.Tensor,
        labels: torch.Tensor,
        n_way: int,
        steps: int,
        lr: float | None,
        query: torch.Tensor | None = None,
        keep_graph: bool = False,
    ) -> Iterator[tuple[int, torch.Tensor, torch.Tensor | None, torch.Tensor | None, dict]]:
        """Yield ``(step, flat weights (P,), support loss, logits (n_s [+ n_q], n_way), shapes)``
        for steps ``0..steps``.

        ``keep_graph`` (meta-training): the weights carry the graph back to ``c_0`` and the
        meta-learner, and the last state's support loss is skipped (None); else everything is
        detached (test time). Queries get logits at every step when at most ``LIVE_QUERIES``.
        """
        flat, shapes = self.flat_weights(n_way)
        if not keep_graph:
            flat = flat.detach()
        state = self.optimizer_net.initial_state(flat)
        for step in range(steps + 1):
            if keep_graph and step == steps:
                yield step, flat, None, None, shapes
                return
            live = query is not None and (step == steps or len(query) <= LIVE_QUERIES)
            images = torch.cat([support, query.to(support.dtype)]) if live else support
            loss, grad, out = self.support_loss(flat, shapes, images.unsqueeze(0), labels)
            yield step, flat, loss, out[0], shapes
            if step < steps:
                if lr is not None:
                    flat = sgd_gates(flat, grad, lr)
                else:
                    with torch.set_grad_enabled(keep_graph):
                        flat, state = self.optimizer_net(flat, grad, loss, state)

    @torch.enable_grad()
    def adapt(
        self,
        support: torch.Tensor,
        support_labels: torch.Tensor,
        query: torch.Tensor | None = None,
        steps: int | None = None,
        lr: float | None = None,
    ) -> Iterator[AdaptStep]:
        """One record per LSTM update (step 0: the meta-learned initial weights).

        ``support`` ``(n_s, C, H, W)``, ``support_labels`` ``(n_s,)``, ``query`` ``(n_q, C, H, W)``;
        ``lr``: plain SGD at this rate instead of the learned optimiser.
        """
        n_way = self.support_ways(support, support_labels)
        steps = self.resolve_steps(steps, lr)
        n_s, initial = len(support), None
        for step, flat, loss, out, shapes in self.run(
            support, support_labels, n_way, steps, lr, query
        ):
            value = float(loss)
            check_finite(value, step, initial)
            initial = value if initial is None else initial
            probs = torch.softmax(out[n_s:], -1) if len(out) > n_s else None
            params = {k: v.detach() for k, v in self.unflatten(flat, shapes).items()}
            yield AdaptStep(
                step=step,
                total_steps=steps,
                loss=value,
                support_accuracy=correct(out[:n_s], support_labels) / n_s,
                query_probs=probs,
                classifier=FastClassifier(params, support, self.task_features),
            )

    def adapted_flat(self, episode: Episode) -> tuple[torch.Tensor, dict[str, torch.Size]]:
        """The weights after ``inner_steps`` LSTM updates, differentiable w.r.t. ``c_0`` and
        the meta-learner."""
        c = self.config
        states = self.run(
            episode.support,
            episode.support_labels,
            episode.n_way,
            c.inner_steps,
            None,
            keep_graph=True,
        )
        *_, (_, flat, _, _, shapes) = states
        return flat, shapes

    def task_batch_loss(self, batch: TaskBatch) -> tuple[torch.Tensor, int]:
        raise NotImplementedError("MetaLSTM.meta_loss runs one episode after the other")

    def episode_loss(self, episode: Episode) -> tuple[torch.Tensor, int]:
        """Query cross-entropy after ``inner_steps`` LSTM updates on the support set (a
        differentiable scalar) and the number of correct queries."""
        flat, shapes = self.adapted_flat(episode)
        n_s = len(episode.support)
        images = torch.cat([episode.support, episode.query]).unsqueeze(0)
        out = self.task_logits(self.unflatten(flat, shapes), images, n_stats=n_s)[:, n_s:]
        loss = task_losses(out, episode.query_labels.unsqueeze(0))
        return loss, correct(out.detach()[0], episode.query_labels)

    def meta_loss(self, episodes: Sequence[Episode]) -> MetaLoss:
        """Mean query cross-entropy after ``inner_steps`` LSTM updates on each support set."""
        losses, hits = [], 0
        for ep in episodes:
            loss, ok = self.episode_loss(ep)
            losses.append(loss)
            hits += ok
        count = sum(len(ep.query_labels) for ep in episodes)
        return MetaLoss(torch.stack(losses).mean(), hits / max(count, 1))

    def meta_step(self, episodes: Sequence[Episode], optimizer: torch.optim.Optimizer) -> MetaLoss:
        """The gradient of ``meta_loss``, clipped to norm ``grad_clip``, then ``optimizer``.

        Each episode is backpropagated as soon as its loss exists (the same gradient as
        ``meta_loss``'s, tested), so only one episode's graph (every update's LSTM state for
        every weight) is held at a time.
        """
        optimizer.zero_grad(set_to_none=True)
        total, hits = 0.0, 0
        for ep in episodes:
            loss, ok = self.episode_loss(ep)
            (loss / len(episodes)).backward()
            total += loss.item()
            hits += ok
        if self.config.grad_clip > 0:
            nn.utils.clip_grad_norm_(self.parameters(), self.config.grad_clip)
        optimizer.step()
        count = sum(len(ep.query_labels) for ep in episodes)
        return MetaLoss(torch.tensor(total / len(episodes)), hits / max(count, 1))
