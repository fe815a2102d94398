"""Every checkpoint shipped in assets/checkpoints loads safely, says how it was made, and works.

Real accuracy is measured by ``core.evaluate`` (README tables); here each checkpoint must clearly
beat chance on a few Vinyals test episodes, which a broken or untrained file would not.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import torch

from core.algorithms import ALGORITHMS
from core.checkpoint import load_checkpoint
from core.data.episodes import EpisodeSpec
from core.data.splits import load_split
from core.evaluate import evaluate_iter, overlap_problem
from core.training.presets import expand

SHIPPED = sorted((Path(__file__).resolve().parents[1] / "assets" / "checkpoints").glob("*.pt"))


def test_the_default_checkpoint_is_shipped():
    assert "protonet-omniglot.pt" in [p.name for p in SHIPPED]


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_checkpoint_records_its_provenance(path):
    ckpt = load_checkpoint(path)  # weights_only loading inside
    meta = ckpt.metadata
    assert ckpt.learner.name in ALGORITHMS
    assert path.stem.startswith(ckpt.learner.name)
    command = shlex.split(meta["train_command"])
    if command[1] == "benchmarks/time_to_accuracy.py":  # a model of the race (ProtoNet only)
        assert ckpt.learner.name == meta["metrics"]["learner"] == "protonet"
        assert command[command.index("--ours") + 1].startswith("--ways")
        assert meta["metrics"]["vinyals_test_5w1s"] > 0.5
    else:
        assert command[:3] == ["python", "-m", "core.train"]
        words = expand(command[3:])  # a --preset names the algorithm
        assert words[words.index("--algorithm") + 1] == ckpt.learner.name
        assert meta["metrics"]["best_val_accuracy"] > 0.5
    if "averaged_from" in meta:  # the mean of a run's snapshots (core.average)
        assert shlex.split(meta["average_command"])[:3] == ["python", "-m", "core.average"]
        assert len(meta["averaged_from"]) >= 2
    assert meta["split"] in ("vinyals", "lake") and meta["train_characters"]
    assert meta["train_seconds"] > 0


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_checkpoint_beats_chance_on_unseen_classes(path, omniglot_root):
    torch.set_num_threads(1)
    ckpt = load_checkpoint(path)
    split = ckpt.metadata["split"]
    bank = load_split(omniglot_root, split, "test", ckpt.learner.config.input_size)
    assert overlap_problem(ckpt.metadata, bank) is None
    spec = EpisodeSpec(5, 1, 5)
    accs = [r.accuracy for r in evaluate_iter(ckpt.learner, bank, spec, 10, seed=99)]
    # twice chance (0.2): MANN's 1-shot answer is a class's 2nd presentation (≈ 50-60 % today)
    assert sum(accs) / len(accs) > 0.4
