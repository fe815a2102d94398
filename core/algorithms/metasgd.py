"""Meta-SGD (Li et al., 2017): MAML whose inner learning rates are learned too, one per weight
(a tensor of the weight's shape), in the outer loop with the initialisation.

The learned rates live in ``lrs`` (initialised to ``inner_lr``) and are saved in checkpoints.
Adaptation uses them unless an explicit ``lr`` is given, which then applies plain SGD at that
rate to every weight.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from torch import nn

from core.algorithms.inner_loop import Update, sgd
from core.algorithms.maml import MAML, MAMLConfig


@dataclass(frozen=True)
class MetaSGDConfig(MAMLConfig):
    inner_steps: int = field(
        default=1, metadata={"help": "inner-loop steps in meta-training (the paper: 1)"}
    )
    inner_lr: float = field(
        default=0.1, metadata={"help": "initial value of every learned inner learning rate"}
    )
    adapt_steps: int = field(
        default=1,
        metadata={"help": "adaptation steps at test time (the rates are learned for inner-steps)"},
    )


def _key(name: str) -> str:
    return name.replace(".", "__")


class MetaSGD(MAML):
    name = "metasgd"
    capabilities = replace(
        MAML.capabilities,
        lr_override="plain SGD at this rate for every weight instead of the learned rates",
    )

    def __init__(self, config: MetaSGDConfig | None = None) -> None:
        super().__init__(config or MetaSGDConfig())
        self.lrs = nn.ParameterDict(
            {
                _key(k): nn.Parameter(torch.full_like(v, self.config.inner_lr))
                for k, v in self.weights().items()
            }
        )

    def adapt_defaults(self) -> tuple[int, float | None]:
        """``(adapt_steps, None)``: the rates are the learned per-weight ``lrs``."""
        return self.config.adapt_steps, None

    def learned_lrs(self) -> dict[str, torch.Tensor]:
        """Learned inner learning rate per weight name (same shape as the weight)."""
        return {k: self.lrs[_key(k)] for k in self.weights()}

    def meta_update(self) -> Update:
        return sgd(self.learned_lrs())

    def inner_update(self, lr: float | None) -> Update:
        if lr is not None:
            return sgd(lr)
        return sgd({k: v.detach() for k, v in self.learned_lrs().items()})
