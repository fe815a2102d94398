"""ANIL (Raghu et al., 2020): MAML with the inner loop on the head only ("almost no inner loop").

The backbone is meta-learned in the outer loop but frozen during adaptation, so each task's
embeddings are computed once and the inner steps touch only the ``(n_way, d)`` head: adaptation
costs one backbone forward pass however many steps it takes. Same settings as MAML.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import torch

from core.algorithms.base import AdaptStep
from core.algorithms.gradient import TaskBatch
from core.algorithms.head import HEAD_B, HEAD_W, correct, head_logits, task_losses
from core.algorithms.inner_loop import Params, inner_loop, last
from core.algorithms.maml import MAML


def _split(weights: Params) -> tuple[Params, Params]:
    head = {k: weights[k] for k in (HEAD_W, HEAD_B)}
    return {k: v for k, v in weights.items() if k not in head}, head


class ANIL(MAML):
    name = "anil"
    capabilities = replace(
        MAML.capabilities,
        lr_override="SGD learning rate of the head's adaptation steps (trained: inner_lr)",
    )

    def task_batch_loss(self, batch: TaskBatch) -> tuple[torch.Tensor, int]:
        c = self.config
        n_s = batch.support.shape[1]
        weights = self.task_weights(batch.tasks, batch.n_way)
        _, head = _split(weights)
        images = torch.cat([batch.support, batch.query], 1)
        feats = self.task_features(weights, images, n_stats=n_s)
        sup, query = feats[:, :n_s], feats[:, n_s:]

        def loss_fn(fast: Params, step: int):
            return task_losses(head_logits(fast, sup), batch.support_labels), None

        states = inner_loop(
            head,
            loss_fn,
            c.inner_steps,
            self.meta_update(),
            create_graph=not c.first_order,
            evaluate_last=False,
        )
        out = head_logits(last(states).fast, query)
        return task_losses(out, batch.query_labels), correct(out.detach(), batch.query_labels)

    @torch.enable_grad()
    def adapt(
        self,
        support: torch.Tensor,
        support_labels: torch.Tensor,
        query: torch.Tensor | None = None,
        steps: int | None = None,
        lr: float | None = None,
    ) -> Iterator[AdaptStep]:
        """Embed support (and query) once, then ``steps`` SGD steps on the head."""
        n_way = self.support_ways(support, support_labels)
        steps = self.resolve_steps(steps, lr)
        n_s = len(support)
        images = support if query is None else torch.cat([support, query.to(support.dtype)])
        fixed, head = _split(self.task_weights(1, n_way, detach=True))
        with torch.no_grad():
            feats = self.task_features(fixed, images.unsqueeze(0), n_stats=n_s)
        labels = support_labels.unsqueeze(0)

        def loss_fn(fast: Params, step: int):
            out = head_logits(fast, feats)
            query_logits = None if query is None else out[0, n_s:]
            return task_losses(out[:, :n_s], labels), (out[0, :n_s], query_logits)

        fixed = {k: v.detach() for k, v in fixed.items()}
        states = inner_loop(head, loss_fn, steps, self.inner_update(lr), create_graph=False)
        yield from self._adapt_records(states, support, support_labels, steps, fixed)
