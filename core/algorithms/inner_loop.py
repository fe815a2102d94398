"""The functional inner loop shared by MAML, FOMAML, ANIL, Meta-SGD and Reptile.

Fast weights are a dict ``name -> tensor`` (names as in ``GradientLearner.named_parameters()``)
whose tensors carry a leading *task* dimension ``T``. A params dict goes in, a new one comes
out; nothing mutates the meta-trained weights.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from core.algorithms.head import HEAD_B, HEAD_W

Params = dict[str, torch.Tensor]
#: ``update(fast, grads, step) -> new fast``: one inner-loop optimiser step.
Update = Callable[[Params, Sequence[torch.Tensor | None], int], Params]
#: ``features(params, images (T, n, C, H, W), n_stats) -> (T, n, d)``: a backbone's forward.
Features = Callable[..., torch.Tensor]

#: Adaptation reports query probabilities at every step (the GUI's live predictions) for up to
#: this many query images; larger query sets (evaluation) are classified after the last step.
LIVE_QUERIES = 16


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

    def __init__(self, features: Features) -> None:
        self._features = features
        self._key: list[torch.Tensor] = []
        self._n_stats: int | None = None
        self._feats = torch.empty(0)

    def __call__(
        self, params: Params, images: torch.Tensor, n_stats: int | None = None
    ) -> torch.Tensor:
        """Embeddings ``(T, n, d)`` of ``images`` ``(T, n, C, H, W)``."""
        key = [images, *(v for k, v in params.items() if k not in (HEAD_W, HEAD_B))]
        same = len(key) == len(self._key) and self._n_stats == n_stats
        if not (same and all(a is b for a, b in zip(key, self._key, strict=True))):
            self._feats = self._features(params, images, n_stats)
            self._key, self._n_stats = key, n_stats
        return self._feats


def last(states: Iterator[InnerState]) -> InnerState:
    """Run ``states`` to the end; the final state."""
    state = None
    for state in states:  # noqa: B007
        pass
    assert state is not None
    return state
