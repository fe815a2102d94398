"""Prototypical Networks: maths on a hand-computed toy, adaptation records, and learning."""

from __future__ import annotations

import pytest
import torch

from core.algorithms import build_learner, final_step
from core.algorithms.base import check_support
from core.algorithms.protonet import ProtoNet, proto_logits, prototypes
from core.data.episodes import EpisodeSpec, episodes
from core.data.splits import load_split


def test_prototypes_and_logits_on_a_two_class_toy():
    emb = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 4.0]])
    labels = torch.tensor([0, 0, 1])
    protos = prototypes(emb, labels, 2)
    assert torch.equal(protos, torch.tensor([[1.0, 0.0], [0.0, 4.0]]))
    query = torch.tensor([[1.0, 1.0], [0.0, 3.0]])
    # squared distances: q0 -> (0+1, 1+9) = (1, 10); q1 -> (1+9, 0+1) = (10, 1)
    expected = -torch.tensor([[1.0, 10.0], [10.0, 1.0]])
    assert torch.allclose(proto_logits(query, protos), expected)
    # easyfsl's plain Euclidean distance: (1, sqrt 10), (sqrt 10, 1)
    plain = -torch.tensor([[1.0, 10**0.5], [10**0.5, 1.0]])
    assert torch.allclose(proto_logits(query, protos, "euclidean"), plain)


def test_the_training_distance_changes_the_loss_not_the_prediction():
    support, labels = _toy_support()
    query = torch.rand(6, 1, 28, 28)
    episode = type("E", (), {"support": support, "query": query, "support_labels": labels,
                             "n_way": 3})()  # fmt: skip
    torch.manual_seed(1)
    squared = build_learner("protonet", {}).eval()
    plain = build_learner("protonet", {"distance": "euclidean"}).eval()
    plain.load_state_dict(squared.state_dict())
    a, b = squared.episode_logits(episode), plain.episode_logits(episode)
    assert torch.allclose(a, -b.pow(2), atol=1e-4)
    assert torch.equal(a.argmax(1), b.argmax(1))
    with pytest.raises(ValueError, match="distance must be one of"):
        build_learner("protonet", {"distance": "cosine"})


def test_a_euclidean_trained_head_is_scaled_to_its_training_logits():
    """Squared-distance logits of a Euclidean-trained model are divided by twice the mean
    support-to-prototype distance: same prediction, probabilities no longer saturated."""
    support, labels = _toy_support()
    query = torch.rand(6, 1, 28, 28)
    torch.manual_seed(1)
    squared = build_learner("protonet", {}).eval()
    plain = build_learner("protonet", {"distance": "euclidean"}).eval()
    plain.load_state_dict(squared.state_dict())
    with torch.no_grad():  # embeddings far apart, as after training
        for learner in (squared, plain):
            learner.backbone.encoder[-1][1].weight.mul_(30.0)
    a = next(squared.adapt(support, labels, query, steps=0))
    b = next(plain.adapt(support, labels, query, steps=0))
    with torch.no_grad():
        emb, qemb = plain.embed(support), plain.embed(query)
        protos = prototypes(emb, labels, 3)
        m = torch.cdist(emb, protos).mean()
    expected = torch.softmax(-torch.cdist(qemb, protos).pow(2) / (2 * m), dim=1)
    assert torch.allclose(b.query_probs, expected, atol=1e-5)
    assert torch.equal(a.query_probs.argmax(1), b.query_probs.argmax(1))
    assert b.query_probs.max(1).values.mean() < a.query_probs.max(1).values.mean()
    assert torch.allclose(b.classifier.logits(query).softmax(1), b.query_probs, atol=1e-5)


def _toy_support(n_way=3, shots=2):
    torch.manual_seed(0)
    support = torch.rand(n_way * shots, 1, 28, 28)
    labels = torch.arange(n_way).repeat_interleave(shots)
    return support, labels


def test_adapt_step0_is_the_prototype_classifier_and_weights_stay_put():
    torch.manual_seed(0)
    learner = ProtoNet().eval()
    before = {k: v.clone() for k, v in learner.state_dict().items()}
    support, labels = _toy_support()
    query = torch.rand(4, 1, 28, 28)
    steps = list(learner.adapt(support, labels, query, steps=5, lr=1e-3))
    assert [s.step for s in steps] == [0, 1, 2, 3, 4, 5]
    with torch.no_grad():
        emb = learner.backbone(support)
        expected = torch.softmax(
            proto_logits(learner.backbone(query), prototypes(emb, labels, 3)), 1
        )
    assert torch.allclose(steps[0].query_probs, expected, atol=1e-5)
    assert steps[-1].loss < steps[0].loss, "fine-tuning the head should lower the support loss"
    assert steps[-1].classifier.logits(query).shape == (4, 3)
    for k, v in learner.state_dict().items():
        assert torch.equal(v, before[k]), f"adaptation changed {k}"


def test_bad_support_sets_are_refused_clearly():
    support, labels = _toy_support()
    with pytest.raises(ValueError, match="empty"):
        check_support(support[:0], labels[:0])
    with pytest.raises(ValueError, match="two classes"):
        check_support(support[:2], labels[:2])
    with pytest.raises(ValueError, match="no examples"):
        check_support(support[:4], torch.tensor([0, 0, 2, 2]))


def test_too_large_a_learning_rate_is_reported_as_divergence():
    from core.algorithms.base import AdaptationDiverged

    support, labels = _toy_support()
    with pytest.raises(AdaptationDiverged, match="lower the learning rate"):
        final_step(ProtoNet().adapt(support, labels, steps=5, lr=1e38))


def test_short_training_lowers_the_loss(tiny_root):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    learner = build_learner("protonet")
    bank = load_split(tiny_root, "vinyals", "train")
    batch = list(episodes(bank, EpisodeSpec(5, 2, 3), 8, seed=0))
    opt = torch.optim.Adam(learner.parameters(), lr=1e-3)
    learner.train()
    first = learner.meta_loss(batch).loss.item()
    for _ in range(15):
        learner.meta_step(batch, opt)
    assert learner.meta_loss(batch).loss.item() < 0.7 * first
