"""The hand-tuned, task-batched functional Conv-4: the gradient learners' fast path.

Used automatically when a gradient learner's backbone is ``conv4`` (any other backbone goes
through ``any_backbone.module_features``; both give the same numbers, tested). Every task of a
meta-batch can go through the network in one call: task ``t``'s images are channel group ``t``
of a grouped convolution (``groups=T``), so one convolution serves all tasks however far their
weights have drifted in the inner loop; BatchNorm over the ``(n, T*C, H, W)`` batch then
normalises each task's channels with that task's own statistics. The first convolution is one
matrix product (``_first_conv``) and the activations stay channels_last (NHWC), both measured
faster on this CPU (docs/gradient-learners.md).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F

from core.algorithms.head import head_logits
from core.models.batchnorm import CHANNELS_LAST, batch_norm
from core.models.conv4 import BLOCKS


def block_names(i: int) -> tuple[str, str, str, str]:
    """Conv weight, conv bias, BN weight, BN bias of Conv-4 block ``i`` (``Conv4`` layout)."""
    p = f"backbone.encoder.{i}"
    return f"{p}.0.weight", f"{p}.0.bias", f"{p}.1.weight", f"{p}.1.bias"


def _first_conv(images: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """The first 3x3 convolution as one matrix product per task, returned as the grouped
    layout ``(n, T*C_out, H, W)`` in channels_last.

    images ``(T, n, C_in, H, W)``, weight ``(T, C_out, C_in, 3, 3)``, bias ``(T, C_out)``. With one
    input channel oneDNN's convolution is slow on this CPU (and returns NCHW, which then needs a
    copy); the 9-column unfold times the weight gives the NHWC output directly, the same sums
    (benchmarks/maml_speed.py).
    """
    tasks, n, c, hgt, wid = images.shape
    k = int(weight.shape[-1])  # a Python int also under tracing (core.export)
    cols = F.unfold(images.reshape(tasks * n, c, hgt, wid), k, padding=k // 2)
    cols = cols.view(tasks, n, c * k * k, hgt * wid).transpose(2, 3).reshape(tasks, -1, c * k * k)
    kernels = weight.reshape(tasks, -1, c * k * k).transpose(1, 2)  # not .mT: ONNX lacks it
    out = torch.baddbmm(bias.unsqueeze(1), cols, kernels)
    out = out.view(tasks, n, hgt, wid, -1).permute(1, 2, 3, 0, 4)
    return out.reshape(n, hgt, wid, -1).permute(0, 3, 1, 2)


def features(
    params: Mapping[str, torch.Tensor], images: torch.Tensor, n_stats: int | None = None
) -> torch.Tensor:
    """Conv-4 embeddings ``(T, n, d)`` of ``images`` ``(T, n, C, H, W)`` under per-task weights.

    BatchNorm uses the statistics of the first ``n_stats`` images of each task (all if None).
    """
    tasks, n = images.shape[:2]
    h = None
    for i in range(BLOCKS):
        cw, cb, bw, bb = (params[k] for k in block_names(i))
        if h is None:
            h = _first_conv(images, cw, cb)
        else:
            cw = cw.reshape(-1, *cw.shape[2:]).contiguous(memory_format=CHANNELS_LAST)
            h = F.conv2d(h, cw, cb.reshape(-1), padding=1, groups=tasks)
            h = h.contiguous(memory_format=CHANNELS_LAST)  # a no-op unless oneDNN chose NCHW
        h = batch_norm(h, bw.reshape(-1), bb.reshape(-1), n_stats)
        h = F.relu(F.max_pool2d(h, 2))  # == max_pool(relu(h)), on 4x fewer elements
    return h.reshape(n, tasks, -1).transpose(0, 1)


def logits(
    params: Mapping[str, torch.Tensor], images: torch.Tensor, n_stats: int | None = None
) -> torch.Tensor:
    """Logits ``(T, n, n_way)`` of ``images`` ``(T, n, C, H, W)`` (see ``features``)."""
    return head_logits(params, features(params, images, n_stats))
