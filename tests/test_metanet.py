"""MetaNet (Munkhdalai & Yu 2017): fast weights come from the support set only, from the right
per-example gradients; the protocol."""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F
from toys import assert_trains_and_round_trips
from toys import toy_episode as _toy_episode

from core.algorithms import build_learner, final_step
from core.algorithms import metanet as metanet_module

TINY = {"hidden": 4, "input_size": 16, "width": 6, "meta_hidden": 5}


toy_episode = functools.partial(_toy_episode, shots=2, queries=2, dtype=torch.float64)


def tiny(dtype=torch.float64):
    torch.manual_seed(0)
    return build_learner("metanet", TINY).to(dtype)


def test_without_fast_weights_a_query_pass_is_the_slow_network():
    learner = tiny().eval()
    ep = toy_episode(torch.Generator().manual_seed(1))
    with torch.no_grad():  # generators that output zero fast weights
        for net in (learner.d_net, learner.m_net):
            net[-1].weight.zero_()
            net[-1].bias.zero_()
    clf = final_step(learner.adapt(ep.support, ep.support_labels, ep.query)).classifier
    with torch.no_grad():
        slow = learner.slow_logits(learner.embed(ep.query), ep.n_way)
    assert torch.equal(clf.logits(ep.query), slow)
    assert torch.allclose(slow, slow[:, :1].expand_as(slow))  # the slow net is class-agnostic


def test_fast_weights_change_predictions_only_through_the_support():
    learner = tiny().eval()
    gen = torch.Generator().manual_seed(2)
    ep = toy_episode(gen)
    clf = final_step(learner.adapt(ep.support, ep.support_labels)).classifier
    together = clf.logits(ep.query)
    alone = torch.cat([clf.logits(q.unsqueeze(0)) for q in ep.query])
    assert torch.allclose(together, alone, atol=1e-12)  # no query sees another query
    other = ep.support.clone()
    other[0] = torch.rand(other[0].shape, generator=gen, dtype=other.dtype)
    moved = final_step(learner.adapt(other, ep.support_labels)).classifier.logits(ep.query)
    assert not torch.allclose(moved, together)  # the support set is what the fast weights read
    with torch.no_grad():
        slow = learner.slow_logits(learner.embed(ep.query), ep.n_way)
    assert not torch.allclose(together - together[:, :1], slow - slow[:, :1])


def test_the_attention_the_window_shows_is_the_read_that_classifies():
    """``attention(images)`` (the window's MetaNet view) is a distribution over the support
    images, and the query logits are the slow row plus the fast weights read with exactly it."""
    learner = tiny().eval()
    ep = toy_episode(torch.Generator().manual_seed(3))
    clf = final_step(learner.adapt(ep.support, ep.support_labels)).classifier
    att = clf.attention(ep.query)
    assert att.shape == (len(ep.query), len(ep.support))
    assert (att >= 0).all()
    assert torch.allclose(att.sum(1), torch.ones(len(ep.query), dtype=att.dtype))
    with torch.no_grad():
        z = learner.hidden_layer(learner.embed(ep.query), clf.fast.q_star)
        read = torch.einsum("qs,swk->qwk", att, clf.fast.values)
        logits = learner.slow_out(z) + torch.einsum("qwk,qk->qw", read, z)
    assert torch.allclose(logits, clf.logits(ep.query), atol=1e-10)
    uniform = torch.full_like(att, 1 / len(ep.support))  # another read gives other logits
    with torch.no_grad():
        other = learner.slow_out(z) + torch.einsum(
            "qwk,qk->qw", torch.einsum("qs,swk->qwk", uniform, clf.fast.values), z
        )
    assert not torch.allclose(other, logits)


def test_the_generators_see_per_example_gradients_of_the_two_layers(monkeypatch):
    learner = tiny().eval()
    ep = toy_episode(torch.Generator().manual_seed(3))
    seen = []
    real = metanet_module.preprocess
    monkeypatch.setattr(metanet_module, "preprocess", lambda g: seen.append(g) or real(g))
    with torch.no_grad():
        e = learner.embed(ep.support)
    fast = learner.fast_weights(e, ep.support_labels, ep.n_way, create_graph=False)
    hidden_grads, out_grads = seen
    y = ep.support_labels
    n = len(y)
    for i in range(n):  # hidden layer: d/dQ of the pair loss through example i's own z_i
        q = learner.slow_hidden.weight.detach().clone().requires_grad_(True)
        z = [
            F.relu(
                (q if j == i else learner.slow_hidden.weight.detach()) @ e[j]
                + learner.slow_hidden.bias.detach()
            )
            for j in range(n)
        ]
        z = torch.stack(z)
        pairs = [(a, b) for a in range(n) for b in range(a + 1, n)]
        logits = torch.stack(
            [
                learner.pair_scale.detach() * F.cosine_similarity(z[a], z[b], dim=0)
                + learner.pair_bias.detach()
                for a, b in pairs
            ]
        )
        same = torch.tensor([float(y[a] == y[b]) for a, b in pairs], dtype=logits.dtype)
        (grad,) = torch.autograd.grad(F.binary_cross_entropy_with_logits(logits, same), q)
        assert torch.allclose(hidden_grads[i], grad, atol=1e-12), i
    for i in range(n):  # output layer: d/dW of example i's cross-entropy, W = shared row x N
        w = learner.slow_out.weight.detach().expand(ep.n_way, -1).clone().requires_grad_(True)
        zi = fast.keys[i]
        logits = w @ zi + learner.slow_out.bias.detach()
        (grad,) = torch.autograd.grad(F.cross_entropy(logits.unsqueeze(0), y[i : i + 1]), w)
        assert torch.allclose(out_grads[i], grad, atol=1e-12), i


def test_meta_training_lowers_the_loss_and_the_checkpoint_round_trips(tmp_path):
    gen = torch.Generator().manual_seed(4)
    assert_trains_and_round_trips(
        tiny(torch.float32), [toy_episode(gen, dtype=torch.float32) for _ in range(2)], tmp_path
    )


@pytest.mark.parametrize("bad", [{"width": 0}, {"meta_hidden": 0}, {"hidden": 0}])
def test_bad_configs_are_refused_in_one_line(bad):
    with pytest.raises(ValueError, match="must be at least 1"):
        build_learner("metanet", bad)
