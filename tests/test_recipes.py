"""Training recipes: named presets, affine augmentation (seeded, training only), larger inputs."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from test_cli import TINY_TRAIN

from core import train
from core.algorithms import build_learner
from core.checkpoint import load_checkpoint
from core.data.augment import Affine, augment_episode
from core.data.episodes import Episode
from core.data.splits import load_split
from core.data.step_episodes import episode_generator
from core.training import config
from core.training.presets import PRESETS, expand


def test_presets_expand_first_so_given_flags_win():
    assert expand(["--preset", "protonet-lake", "--episodes", "5"])[-2:] == ["--episodes", "5"]
    words = expand(["--out", "x", "--preset=protonet-lake"])
    assert words[: len(PRESETS["protonet-lake"].split())] == PRESETS["protonet-lake"].split()
    assert words[-2:] == ["--out", "x"]
    with pytest.raises(ValueError, match="unknown preset 'nope'"):
        expand(["--preset", "nope"])


def test_a_preset_trains_and_is_recorded_as_given(tiny_root, tmp_path, capsys):
    args = ["--preset", "protonet-lake", "--data-root", str(tiny_root), "--out", str(tmp_path)]
    args += [*TINY_TRAIN, "--episodes", "2", "--ways", "5"]
    assert train.main(args) == 0
    meta = load_checkpoint(tmp_path / "last.pt").metadata
    assert meta["train_config"]["split"] == "lake" and meta["train_config"]["episodes"] == 2
    assert meta["train_command"].startswith("python -m core.train --preset protonet-lake")
    assert train.main(["--preset", "nope", "--out", str(tmp_path / "n")]) == 2
    assert "unknown preset" in capsys.readouterr().err


def _episode(n=6, side=16) -> Episode:
    g = torch.Generator().manual_seed(0)
    images = (torch.rand(n, 1, side, side, generator=g) > 0.7).float()
    labels = torch.arange(2).repeat_interleave(n // 4)
    return Episode(images[: n // 2], labels, images[n // 2 :], labels, ("a", "b"))


def test_affine_augmentation_keeps_shapes_and_follows_its_seed():
    ep = _episode()
    a = augment_episode(ep, "affine", episode_generator(0, 5, 1, stream=1))
    b = augment_episode(ep, "affine", episode_generator(0, 5, 1, stream=1))
    c = augment_episode(ep, "affine", episode_generator(0, 6, 1, stream=1))
    assert a.support.shape == ep.support.shape and a.query.shape == ep.query.shape
    assert torch.equal(a.support, b.support) and torch.equal(a.query, b.query)
    assert not torch.equal(a.support, c.support) and not torch.equal(a.support, ep.support)
    assert torch.equal(a.support_labels, ep.support_labels)
    assert augment_episode(ep, "none", episode_generator(0, 5, 1)) is ep
    # a zero-range affine is the identity
    still = Affine(0.0, 0.0, 0.0, 0.0)(ep.support, torch.Generator().manual_seed(0))
    torch.testing.assert_close(still, ep.support)


def test_augmentation_changes_training_only(tiny_root):
    """Two trainers differing only in --augment: different training episodes, identical
    validation (evaluation never augments)."""
    banks = [load_split(tiny_root, "vinyals", s) for s in ("train", "val")]
    base = train.TrainConfig(ways=5, shots=2, queries=2, episodes=1, val_every=100,
                             val_ways=5, val_episodes=3)  # fmt: skip
    trainers = []
    for augment in ("none", "affine"):
        torch.manual_seed(0)
        config = dataclasses.replace(base, augment=augment)
        trainers.append(
            train.Trainer(config, build_learner("protonet"), *banks, torch.device("cpu"))
        )
    plain, augmented = (t._batch()[0] for t in trainers)
    assert torch.equal(plain.support_labels, augmented.support_labels)
    assert not torch.equal(plain.support, augmented.support)
    assert trainers[0].validate() == trainers[1].validate()  # same weights, same episodes


def test_larger_inputs_train_end_to_end(tiny_root, tmp_path):
    args = ["--data-root", str(tiny_root), "--out", str(tmp_path), *TINY_TRAIN, "--episodes", "1"]
    assert train.main([*args, "--input-size", "56", "--augment", "affine"]) == 0
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert ckpt.preprocess.size == 56 and ckpt.learner.config.input_size == 56
    assert ckpt.metadata["train_config"]["augment"] == "affine"


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_is_a_valid_command_line(name):
    """Each shipped recipe parses with its algorithm's own flags and passes the config checks."""
    words = expand(["--preset", name])
    algorithm = words[words.index("--algorithm") + 1]
    args = config.build_parser(algorithm).parse_args(words)
    fields = {f.name for f in dataclasses.fields(config.TrainConfig)}
    train_config = config.TrainConfig(**{k: v for k, v in vars(args).items() if k in fields})
    assert config.problem(train_config) is None


def test_within_alphabet_training_episodes_match_lakes_test_task(tiny_root):
    """--within-alphabet: every training episode's classes come from one alphabet, support and
    queries from drawers shared by all classes; --val-within-alphabet does the same for
    validation."""
    banks = [load_split(tiny_root, "lake", s) for s in ("train", "train")]
    config = train.TrainConfig(split="lake", ways=4, shots=1, queries=2, episodes=1,
                               val_every=100, val_ways=4, val_episodes=3, within_alphabet=True,
                               val_within_alphabet=True)  # fmt: skip
    trainer = train.Trainer(config, build_learner("protonet"), *banks, torch.device("cpu"))
    assert trainer.train_spec.within_alphabet and trainer.train_spec.shared_drawers
    assert trainer.val_spec.within_alphabet and trainer.val_spec.shared_drawers
    alphabets = set()
    for _ in range(6):
        names = trainer._batch()[0].class_names
        assert len({n.split("/")[0] for n in names}) == 1, names
        alphabets.add(names[0].split("/")[0])
    assert len(alphabets) > 1  # different alphabets across episodes
    mixed = dataclasses.replace(config, within_alphabet=False)
    plain = train.Trainer(mixed, build_learner("protonet"), *banks, torch.device("cpu"))
    assert not plain.train_spec.within_alphabet
