"""The external memory of MANN (Santoro et al., 2016): least-recently-used access (LRUA).

Pure functions on batched tensors: ``B`` sequences, ``R`` heads (as many read as write heads),
``N`` slots of ``W`` numbers. One step, in the paper's notation::

    w^lu_{t-1} = 1 on the R least used slots of w^u_{t-1}, else 0     (ties: lowest slot first)
    w^w_t      = sigmoid(alpha) w^r_{t-1} + (1 - sigmoid(alpha)) w^lu_{t-1}
    M_t        = M_{t-1} with its least used slot zeroed, + sum_heads w^w_t a_t^T
    w^r_t      = softmax(beta cos(k_t, M_{t-1}(i)))  read="before" (beta: key strength)
               = softmax(beta cos(k_t, M_t(i)))      read="after"
    r_t        = sum_i w^r_t(i) M_t(i)
    w^u_t      = gamma w^u_{t-1} + sum_heads (w^r_t + w^w_t)

``a_t`` is the head's add vector (or its key ``k_t`` itself). ``read="before"`` addresses the
memory as it was before this step's write (as snowkylin/ntm's MANN cell, the reproduction closest
to the paper's figures): the key of an image finds the slots written by earlier images, never
the one its own step has just filled. ``read="after"`` (the paper's equations read literally)
lets the key find what its own step wrote, which for an image is always the closest match and
carries no label yet (issue 33: the file trained that way reads almost uniformly, its largest
read weight on a slot of the step's own class in 19 % of the steps that could have one).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

#: where a step's keys address the memory: before or after the step's own write
READS = ("before", "after")
#: initial memory contents (small, non-zero: cosine similarity needs a direction)
MEMORY_INIT = 1e-6


@dataclass(frozen=True)
class MemoryState:
    """``memory`` ``(B, N, W)``, ``usage`` ``(B, N)``, previous read weights ``read``
    ``(B, R, N)`` and read vectors ``vectors`` ``(B, R, W)``."""

    memory: torch.Tensor
    usage: torch.Tensor
    read: torch.Tensor
    vectors: torch.Tensor

    @staticmethod
    def initial(batch: int, heads: int, slots: int, size: int, like: torch.Tensor) -> MemoryState:
        """The empty memory (``MEMORY_INIT`` everywhere), zero usage and reads."""
        memory = torch.full((batch, slots, size), MEMORY_INIT, dtype=like.dtype, device=like.device)
        return MemoryState(
            memory,
            like.new_zeros(batch, slots),
            like.new_zeros(batch, heads, slots),
            like.new_zeros(batch, heads, size),
        )


def least_used(usage: torch.Tensor, n: int) -> torch.Tensor:
    """``(B, N)`` usage -> ``(B, N)`` 1 on the ``n`` least used slots (ties: lowest index)."""
    order = torch.sort(usage, dim=1, stable=True).indices[:, :n]
    return torch.zeros_like(usage).scatter(1, order, 1.0)


def write_weights(read: torch.Tensor, lu: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
    """``sigmoid(alpha)``-interpolation: previous read weights ``(B, R, N)``, least-used
    weights ``(B, N)``, gate ``sigmoid(alpha)`` ``(B, R)`` -> write weights ``(B, R, N)``."""
    g = gate.unsqueeze(2)
    return g * read + (1 - g) * lu.unsqueeze(1)


def read_weights(keys: torch.Tensor, memory: torch.Tensor, strength: torch.Tensor) -> torch.Tensor:
    """Keys ``(B, R, W)``, memory ``(B, N, W)``, strength ``(B, R)`` -> ``(B, R, N)``."""
    cos = F.cosine_similarity(keys.unsqueeze(2), memory.unsqueeze(1), dim=-1, eps=1e-8)
    return torch.softmax(strength.unsqueeze(2) * cos, dim=2)


def lrua_step(
    state: MemoryState,
    keys: torch.Tensor,
    gate: torch.Tensor,
    strength: torch.Tensor,
    gamma: float,
    add: torch.Tensor | None = None,
    read: str = "after",
) -> tuple[MemoryState, torch.Tensor]:
    """One write-and-read step. ``keys`` ``(B, R, W)`` (read with; also written when ``add``
    is None), ``gate`` ``sigmoid(alpha)`` ``(B, R)``, ``strength`` ``(B, R)``, ``add``
    ``(B, R, W)`` the vectors written; ``read``: address the memory ``"before"`` or
    ``"after"`` this step's write (the read vectors always come from the written memory).
    Returns the new state and the write weights ``(B, R, N)``; the read weights are
    ``state.read``."""
    if read not in READS:
        raise ValueError(f"read must be one of {', '.join(READS)}, not {read!r}")
    heads = keys.shape[1]
    w_before = read_weights(keys, state.memory, strength) if read == "before" else None
    lu = least_used(state.usage, heads)
    w_write = write_weights(state.read, lu, gate)
    emptied = least_used(state.usage, 1)  # the least used slot is zeroed before writing
    written = keys if add is None else add
    memory = state.memory * (1 - emptied).unsqueeze(2) + w_write.transpose(1, 2) @ written
    w_read = read_weights(keys, memory, strength) if w_before is None else w_before
    usage = gamma * state.usage + w_read.sum(1) + w_write.sum(1)
    return MemoryState(memory, usage, w_read, w_read @ memory), w_write
