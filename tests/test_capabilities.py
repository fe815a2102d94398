"""Every registered learner declares its capabilities, and adapt() does what they say."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from core.algorithms import ALGORITHMS, Capabilities, build_learner, final_step
from core.models import BACKBONES

TINY = {"hidden": 4, "input_size": 16}
TINY_BY_NAME = {"relation": {"hidden": 4, "input_size": 28}}  # its maps need >= 22 px


def tiny(name: str):
    torch.manual_seed(0)
    return build_learner(name, TINY_BY_NAME.get(name, TINY)).eval()


def task(learner, n_way: int, shots: int = 2, queries: int = 1):
    size, channels = learner.config.input_size, learner.config.in_channels
    gen = torch.Generator().manual_seed(n_way)
    support = torch.rand(n_way * shots, channels, size, size, generator=gen)
    labels = torch.arange(n_way).repeat_interleave(shots)
    return support, labels, torch.rand(queries * n_way, channels, size, size, generator=gen)


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_every_learner_declares_capabilities_and_defaults(name):
    cls, config_cls = ALGORITHMS[name]
    caps = cls.capabilities
    assert isinstance(caps, Capabilities)
    with pytest.raises(dataclasses.FrozenInstanceError):
        caps.embedding = not caps.embedding
    assert caps.episode_kind == ("sequence" if name == "mann" else "episode")
    assert caps.max_ways is None or caps.max_ways >= 2
    assert isinstance(caps.lr_override, str)
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    assert {"backbone", "in_channels", "input_size", "hidden"} <= set(fields)
    assert fields["backbone"].metadata["choices"] == BACKBONES
    assert all(fields[k].metadata.get("help") for k in ("backbone", "in_channels"))
    learner = tiny(name)
    steps, lr = learner.adapt_defaults()
    assert isinstance(steps, int) and steps >= 0
    assert lr is None or lr > 0
    if not caps.adapt_steps:
        assert (steps, lr) == (0, None) and caps.lr_override == ""


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_adapt_honours_the_declared_steps_and_defaults(name):
    learner = tiny(name)
    caps = learner.capabilities
    support, labels, query = task(learner, 3)
    default_steps, _ = learner.adapt_defaults()
    records = list(learner.adapt(support, labels, query))
    assert records[-1].step == records[-1].total_steps == default_steps
    if caps.adapt_steps:
        records = list(learner.adapt(support, labels, query, steps=2))
        assert [r.step for r in records] == [0, 1, 2]
    else:
        with pytest.raises(ValueError, match="no fine-tuning steps"):
            next(learner.adapt(support, labels, query, steps=2))
        assert final_step(learner.adapt(support, labels, query, steps=0)).step == 0


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_an_lr_override_applies_iff_declared(name):
    learner = tiny(name)
    support, labels, query = task(learner, 3)
    steps = 2 if learner.capabilities.adapt_steps else 0
    a, b = (final_step(learner.adapt(support, labels, query, steps, lr)) for lr in (1e-4, 1e-2))
    changed = a.loss != b.loss or not torch.equal(a.query_probs, b.query_probs)
    assert changed == bool(learner.capabilities.lr_override)


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_embed_exists_iff_declared(name):
    learner = tiny(name)
    assert hasattr(learner, "embed") == learner.capabilities.embedding
    if learner.capabilities.embedding:
        support, _, _ = task(learner, 2)
        with torch.no_grad():
            emb = learner.embed(support)
        assert emb.ndim == 2 and len(emb) == len(support)


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_max_ways_is_respected(name):
    learner = tiny(name)
    max_ways = learner.capabilities.max_ways
    ways = 12 if max_ways is None else max_ways
    support, labels, query = task(learner, ways, shots=1)
    step = final_step(learner.adapt(support, labels, query))
    assert step.query_probs.shape == (len(query), ways)
    if max_ways is not None:
        support, labels, _ = task(learner, max_ways + 1, shots=1)
        with pytest.raises(ValueError, match="at most"):
            next(learner.adapt(support, labels))


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_every_config_shares_the_backbone_header(name):
    """backbone, in_channels, hidden, input_size come from one base dataclass, first and in
    that order, so every learner reads and writes them alike."""
    from core.algorithms.base import BackboneConfig

    config = ALGORITHMS[name][1]
    assert issubclass(config, BackboneConfig)
    fields = [f.name for f in dataclasses.fields(config)]
    assert fields[:4] == ["backbone", "in_channels", "hidden", "input_size"]
