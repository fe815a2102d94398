"""All learners, by the name ``core.train --algorithm`` takes."""

from __future__ import annotations

import dataclasses

from core.algorithms.anil import ANIL
from core.algorithms.base import AdaptStep, Capabilities, Learner, MetaLoss, final_step
from core.algorithms.maml import FOMAML, MAML, FOMAMLConfig, MAMLConfig
from core.algorithms.mann import MANN, MANNConfig
from core.algorithms.matching import MatchingConfig, MatchingNetwork
from core.algorithms.metalstm import MetaLSTM, MetaLSTMConfig
from core.algorithms.metanet import MetaNet, MetaNetConfig
from core.algorithms.metasgd import MetaSGD, MetaSGDConfig
from core.algorithms.protonet import ProtoNet, ProtoNetConfig
from core.algorithms.relation import RelationConfig, RelationNetwork
from core.algorithms.reptile import Reptile, ReptileConfig
from core.algorithms.siamese import SiameseConfig, SiameseNetwork
from core.bounds import bound_problem

#: algorithm name -> (learner class, config dataclass)
ALGORITHMS: dict[str, tuple[type[Learner], type]] = {
    "protonet": (ProtoNet, ProtoNetConfig),
    "maml": (MAML, MAMLConfig),
    "fomaml": (FOMAML, FOMAMLConfig),
    "anil": (ANIL, MAMLConfig),
    "metasgd": (MetaSGD, MetaSGDConfig),
    "reptile": (Reptile, ReptileConfig),
    "matching": (MatchingNetwork, MatchingConfig),
    "relation": (RelationNetwork, RelationConfig),
    "metalstm": (MetaLSTM, MetaLSTMConfig),
    "metanet": (MetaNet, MetaNetConfig),
    "siamese": (SiameseNetwork, SiameseConfig),
    "mann": (MANN, MANNConfig),
}


def build_learner(name: str, config: dict | None = None) -> Learner:
    """Instantiate learner ``name`` with config fields from ``config`` (unknown keys refused)."""
    if name not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {name!r}; choose one of {', '.join(ALGORITHMS)}")
    cls, config_cls = ALGORITHMS[name]
    try:
        cfg = config_cls(**(config or {}))
    except TypeError as exc:
        raise ValueError(f"bad {name} config: {exc}") from None
    problem = bound_problem(dataclasses.asdict(cfg), as_flags=False)
    if problem:  # a checkpoint asking for 10^9 adaptation steps or an infinite learning rate
        raise ValueError(f"bad {name} config: {problem}")
    return cls(cfg)


__all__ = [
    "ALGORITHMS",
    "AdaptStep",
    "Capabilities",
    "Learner",
    "MetaLoss",
    "build_learner",
    "final_step",
]
