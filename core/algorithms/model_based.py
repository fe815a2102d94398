"""Helpers shared by the learned-optimiser, fast-weight and memory learners (Meta-LSTM, MetaNet,
Siamese networks, MANN): the gradient preprocessing of Andrychowicz et al. (2016), a random
generator derived from an episode's contents, and the checks of learners without steps.
"""

from __future__ import annotations

import hashlib
import math

import torch

#: the preprocessing exponent ``p`` of Andrychowicz et al. 2016 / Ravi & Larochelle 2017 §3.3
PREPROCESS_P = 10.0


def preprocess(x: torch.Tensor, p: float = PREPROCESS_P) -> torch.Tensor:
    """``(...)`` -> ``(..., 2)``: ``(log|x| / p, sign(x))`` if ``|x| >= e^-p``, else
    ``(-1, e^p x)`` (Ravi & Larochelle 2017, §3.3). Differentiable w.r.t. ``x``."""
    big = x.abs() >= math.exp(-p)
    safe = torch.where(big, x.abs(), torch.ones_like(x))  # no log(0) in either branch's graph
    first = torch.where(big, safe.log() / p, -torch.ones_like(x))
    second = torch.where(big, torch.sign(x), math.exp(p) * x)
    return torch.stack([first, second], -1)


def episode_generator(*tensors: torch.Tensor, salt: int = 0) -> torch.Generator:
    """A ``torch.Generator`` seeded from the contents of ``tensors`` (and ``salt``).

    The same episode always gets the same random choices (pairs, distortions, label shuffles),
    and a resumed training run sees exactly what the original run would have: the randomness
    follows the episode stream, whose generator state is saved, instead of hidden global state.
    """
    digest = hashlib.sha1(str(salt).encode())
    for t in tensors:
        digest.update(str(tuple(t.shape)).encode())
        digest.update(t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return torch.Generator().manual_seed(int.from_bytes(digest.digest()[:8], "little") >> 1)


def check_no_steps(steps: int | None, what: str) -> None:
    """Raise ValueError when a learner without fine-tuning steps is asked for some."""
    if steps:
        raise ValueError(f"{what} have no fine-tuning steps; use 0 adaptation steps")
