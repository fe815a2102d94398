"""Toy few-shot tasks for the learners' tests (imported by the test modules)."""

from __future__ import annotations

import torch

from core.data.episodes import Episode


def toy_episode(
    gen: torch.Generator,
    n_way: int = 3,
    shots: int = 1,
    queries: int = 3,
    size: int = 16,
    dtype: torch.dtype = torch.float32,
) -> Episode:
    """Classes differ by a bright square at a class-specific place, plus noise; images
    ``(n, 1, size, size)`` grouped by class."""

    def images(n_per: int) -> torch.Tensor:
        out = 0.3 * torch.rand(n_way * n_per, 1, size, size, generator=gen, dtype=dtype)
        for c in range(n_way):
            out[c * n_per : (c + 1) * n_per, :, 4 * c : 4 * c + 4, 2:8] += 1.0
        return out

    return Episode(
        images(shots),
        torch.arange(n_way).repeat_interleave(shots),
        images(queries),
        torch.arange(n_way).repeat_interleave(queries),
        tuple(f"c{i}" for i in range(n_way)),
    )


def assert_trains_and_round_trips(learner, episodes: list[Episode], tmp_path) -> None:
    """Eight Adam meta-steps on ``episodes`` lower the meta-loss, and the learner saved and loaded
    as a checkpoint gives the same query probabilities."""
    from core.algorithms import final_step
    from core.checkpoint import load_checkpoint, save_checkpoint

    opt = torch.optim.Adam(learner.parameters(), lr=1e-2)
    first = learner.meta_loss(episodes).loss.item()
    for _ in range(8):
        learner.meta_step(episodes, opt)
    assert learner.meta_loss(episodes).loss.item() < first
    save_checkpoint(tmp_path / "learner.pt", learner, {})
    loaded = load_checkpoint(tmp_path / "learner.pt").learner
    ep = episodes[0]
    a = final_step(learner.eval().adapt(ep.support, ep.support_labels, ep.query))
    b = final_step(loaded.adapt(ep.support, ep.support_labels, ep.query))
    assert torch.equal(a.query_probs, b.query_probs)
