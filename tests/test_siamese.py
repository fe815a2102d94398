"""Siamese networks (Koch et al. 2015): symmetric distance, balanced pairs, distortions in
training only and from a seed, k-shot pooling, the protocol."""

from __future__ import annotations

import math

import pytest
import torch
from toys import assert_trains_and_round_trips, toy_episode

from core.algorithms import build_learner, final_step
from core.algorithms import siamese as siamese_module
from core.algorithms.siamese import SiameseClassifier, balanced_pairs, random_affine

TINY = {"hidden": 4, "input_size": 16, "features": 8}


def tiny(**config):
    torch.manual_seed(0)
    return build_learner("siamese", {**TINY, **config})


def test_the_distance_is_symmetric():
    learner = tiny().eval()
    x = torch.rand(5, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        h = learner.embed(x)
        assert torch.equal(learner.similarity_logits(h, h), learner.similarity_logits(h, h).T)
        assert torch.equal(learner.pair_logits(h[:2], h[3:]), learner.pair_logits(h[3:], h[:2]))


def test_pairs_are_balanced_and_correct():
    labels = torch.tensor([0, 0, 1, 1, 1, 2, 2, 2, 2])
    gen = torch.Generator().manual_seed(2)
    a, b, same = balanced_pairs(labels, 400, gen)
    assert len(a) == 400 and int(same.sum()) == 200
    assert torch.equal(labels[a] == labels[b], same)
    assert bool((a != b).all())
    assert set(a.tolist()) == set(range(9))  # every image serves as an anchor
    a, _, same = balanced_pairs(labels, 7, gen)  # odd counts round up to stay balanced
    assert len(a) == 8 and int(same.sum()) == 4
    with pytest.raises(ValueError, match="two images"):
        balanced_pairs(torch.tensor([0, 1, 2]), 4, gen)


def test_distortions_are_seeded_and_within_the_image():
    x = torch.zeros(6, 1, 16, 16)
    x[:, :, 6:10, 6:10] = 1.0
    one = random_affine(x, torch.Generator().manual_seed(3))
    two = random_affine(x, torch.Generator().manual_seed(3))
    assert torch.equal(one, two) and one.shape == x.shape
    assert not torch.equal(one, x)
    assert float(one.min()) >= 0.0 and float(one.max()) <= 1.0


def test_training_is_deterministic_per_episode():
    learner = tiny()
    ep = toy_episode(torch.Generator().manual_seed(4))
    first = learner.episode_pairs(ep)
    again = learner.episode_pairs(ep)
    assert all(torch.equal(p, q) for p, q in zip(first, again, strict=True))
    assert learner.meta_loss([ep]).loss.item() == learner.meta_loss([ep]).loss.item()
    other = learner.episode_pairs(toy_episode(torch.Generator().manual_seed(5)))
    assert not torch.equal(first[2], other[2]) or not torch.equal(first[0], other[0])


def test_no_distortion_when_adapting_or_classifying(monkeypatch):
    learner = tiny()
    ep = toy_episode(torch.Generator().manual_seed(5))
    calls = []
    real = siamese_module.random_affine
    monkeypatch.setattr(siamese_module, "random_affine", lambda *a: calls.append(1) or real(*a))
    learner.meta_loss([ep])
    assert calls  # training distorts
    calls.clear()
    step = final_step(learner.adapt(ep.support, ep.support_labels, ep.query))
    step.classifier.logits(ep.query)
    step.classifier.similarities(ep.query)
    assert not calls
    with torch.no_grad():  # and the scores are those of the undistorted images
        h_q, h_s = learner.embed(ep.query), learner.embed(ep.support)
        expected = learner.similarity_logits(h_q, h_s)
    assert torch.allclose(step.classifier.similarity_logits(ep.query), expected)
    assert step.classifier.similarities(ep.query).shape == (len(ep.query), len(ep.support))


@pytest.mark.parametrize(("pooling", "expected"), [("max", [3.0, 5.0]), ("mean", [2.0, 5.0])])
def test_k_shot_class_scores(pooling, expected):
    learner = tiny(shot_pooling=pooling)
    labels = torch.tensor([0, 0, 1])
    clf = SiameseClassifier(learner, torch.zeros(3, 8), labels, 2)
    assert clf.pool(torch.tensor([[1.0, 3.0, 5.0]])).tolist() == [expected]


def test_support_accuracy_leaves_an_image_out_of_its_own_class():
    learner = tiny().eval()
    ep = toy_episode(torch.Generator().manual_seed(6), shots=2)
    clf = final_step(learner.adapt(ep.support, ep.support_labels)).classifier
    sims = clf.support_similarities()
    assert bool(torch.isinf(sims.diagonal()).all())
    assert math.isfinite(final_step(learner.adapt(ep.support, ep.support_labels)).loss)


def test_meta_training_lowers_the_loss_and_the_checkpoint_round_trips(tmp_path):
    gen = torch.Generator().manual_seed(7)
    assert_trains_and_round_trips(
        tiny(distortions=False), [toy_episode(gen) for _ in range(2)], tmp_path
    )


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"features": 0}, "at least 1"),
        ({"shot_pooling": "min"}, "one of"),
        ({"distortions": "x"}, "true or false"),
        ({"feature_l2": -0.1}, "from 0 to 1"),
        ({"feature_l2": float("nan")}, "from 0 to 1"),
        ({"feature_l2": 2.0}, "from 0 to 1"),
    ],
)
def test_bad_configs_are_refused_in_one_line(bad, message):
    with pytest.raises(ValueError, match=message):
        build_learner("siamese", bad)


def test_the_feature_l2_penalty_adds_the_feature_layers_squared_weights():
    """``feature_l2`` adds ``feature_l2 * sum(fc.weight ** 2)`` to the pairs' loss (the paper's
    per-layer L2) and its gradient shrinks the feature weights."""
    ep = toy_episode(torch.Generator().manual_seed(4))
    plain, penalised = tiny(), tiny(feature_l2=0.01)
    base = plain.meta_loss([ep]).loss
    loss = penalised.meta_loss([ep]).loss
    expected = base + 0.01 * plain.fc.weight.square().sum()
    assert torch.allclose(loss, expected)
    loss.backward()
    base.backward()
    extra = penalised.fc.weight.grad - plain.fc.weight.grad
    assert torch.allclose(extra, 0.02 * plain.fc.weight.detach(), atol=1e-6)
