"""Meta-LSTM (Ravi & Larochelle 2017): the cell update, the meta-gradient, the protocol."""

from __future__ import annotations

import functools
import math

import pytest
import torch
from toys import assert_trains_and_round_trips
from toys import toy_episode as _toy_episode

from core.algorithms import build_learner
from core.algorithms.metalstm import MetaLSTMOptimizer, sgd_gates
from core.algorithms.model_based import preprocess

TINY = {"hidden": 3, "input_size": 16, "lstm_hidden": 4}


toy_episode = functools.partial(_toy_episode, queries=2, dtype=torch.float64)


def tiny(**config):
    torch.manual_seed(0)
    learner = build_learner("metalstm", {**TINY, **config}).double()
    with torch.no_grad():  # a non-zero head row, so the backbone gets gradients at step 0
        learner.head.weight.normal_(0, 0.5)
        learner.head.bias.fill_(0.1)
    return learner


def test_preprocessing_follows_section_3_3():
    x = torch.tensor([2.0, -1e-3, 1e-6, 0.0], dtype=torch.float64)
    out = preprocess(x, 10.0)
    assert out[0].tolist() == pytest.approx([math.log(2.0) / 10, 1.0])
    assert out[1].tolist() == pytest.approx([math.log(1e-3) / 10, -1.0])
    assert out[2].tolist() == pytest.approx([-1.0, math.exp(10) * 1e-6])  # |x| < e^-10
    assert out[3].tolist() == [-1.0, 0.0]


def test_gates_fixed_to_sgd_give_a_hand_computed_sgd_step():
    """W = 0, sigmoid(b_I) = lr and sigmoid(b_F) = 1 (b_F = 40 rounds to 1 in float64)."""
    lr = 0.1
    cell = MetaLSTMOptimizer(lstm_hidden=3).double()
    with torch.no_grad():
        for layer in (cell.forget, cell.input_gate):
            layer.weight.zero_()
        cell.input_gate.bias.fill_(math.log(lr / (1 - lr)))
        cell.forget.bias.fill_(40.0)
    weights = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    grad = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    new, state = cell(
        weights, grad, torch.tensor(0.7, dtype=torch.float64), cell.initial_state(weights)
    )
    assert new.tolist() == pytest.approx([0.95, 2.1, 2.8], abs=1e-15)
    assert state.i.tolist() == pytest.approx([lr] * 3) and state.f.tolist() == [1.0] * 3
    assert sgd_gates(weights, grad, lr).tolist() == pytest.approx([0.95, 2.1, 2.8], abs=1e-15)


def test_adapt_with_an_lr_takes_plain_sgd_steps_on_the_learner():
    learner = tiny()
    ep = toy_episode(torch.Generator().manual_seed(1))
    records = list(learner.adapt(ep.support, ep.support_labels, ep.query, steps=1, lr=0.1))
    fast = learner.task_weights(1, ep.n_way, detach=True)
    out = learner.task_logits(fast, ep.support.unsqueeze(0))
    loss = torch.nn.functional.cross_entropy(out[0], ep.support_labels)
    grads = torch.autograd.grad(loss, list(fast.values()))
    assert records[0].loss == pytest.approx(loss.item())
    for (k, v), g in zip(fast.items(), grads, strict=True):
        assert torch.allclose(records[1].classifier.params[k], v - 0.1 * g, atol=1e-12), k


def _lstm_params(learner):
    return [p for n, p in learner.named_parameters() if n.startswith("optimizer_net.")]


def test_meta_gradient_reaches_the_lstm_and_matches_finite_differences():
    """One update: the gradient input is computed at c_0, so it does not depend on the LSTM's
    parameters and the paper's first-order meta-gradient is exact w.r.t. them."""
    gen = torch.Generator().manual_seed(2)
    eps = [toy_episode(gen), toy_episode(gen)]
    two = tiny(inner_steps=2)  # from the 2nd update on, the recurrent weights matter too
    two.meta_loss(eps).loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in _lstm_params(two))
    learner = tiny(inner_steps=1)
    params = _lstm_params(learner)
    learner.meta_loss(eps).loss.backward()
    grad = torch.cat([p.grad.reshape(-1) for p in params])
    base = [p.detach().clone() for p in params]
    for trial in range(3):
        v = torch.randn(grad.numel(), generator=gen, dtype=torch.float64)
        v /= v.norm()

        def loss_at(sign, v=v):
            offset = 0
            with torch.no_grad():
                for p, b in zip(params, base, strict=True):
                    p.copy_(b + sign * 1e-6 * v[offset : offset + p.numel()].view_as(p))
                    offset += p.numel()
            return float(learner.meta_loss(eps).loss.detach())

        fd = (loss_at(1.0) - loss_at(-1.0)) / 2e-6
        assert float(grad @ v) == pytest.approx(fd, rel=1e-5, abs=1e-10), trial
    with torch.no_grad():
        for p, b in zip(params, base, strict=True):
            p.copy_(b)


def test_adapt_yields_one_record_per_update_and_leaves_the_weights_alone():
    learner = tiny()
    ep = toy_episode(torch.Generator().manual_seed(3))
    before = {k: v.clone() for k, v in learner.state_dict().items()}
    records = list(learner.adapt(ep.support, ep.support_labels, ep.query, steps=3))
    assert [r.step for r in records] == [0, 1, 2, 3]
    assert records[0].loss == pytest.approx(math.log(3), rel=0.3)
    assert all(r.query_probs.shape == (len(ep.query), 3) for r in records)
    assert all(torch.equal(v, learner.state_dict()[k]) for k, v in before.items())
    probs = torch.softmax(records[-1].classifier.logits(ep.query), 1)
    assert torch.allclose(probs, records[-1].query_probs)


def test_meta_training_lowers_the_loss_and_the_checkpoint_round_trips(tmp_path):
    gen = torch.Generator().manual_seed(4)
    assert_trains_and_round_trips(
        tiny(inner_steps=2).float(),
        [toy_episode(gen, dtype=torch.float32) for _ in range(2)],
        tmp_path,
    )


@pytest.mark.parametrize(
    "bad", [{"inner_steps": 0}, {"lstm_hidden": 0}, {"grad_clip": -1.0}, {"adapt_steps": -1}]
)
def test_bad_configs_are_refused_in_one_line(bad):
    with pytest.raises(ValueError, match="must be"):
        build_learner("metalstm", bad)


@pytest.mark.parametrize("clip", [0.0, 1e-3])
def test_meta_step_applies_the_meta_loss_gradient_clipped(clip):
    gen = torch.Generator().manual_seed(5)
    eps = [toy_episode(gen), toy_episode(gen)]
    learner = tiny(inner_steps=2, grad_clip=clip)
    learner.meta_loss(eps).loss.backward()
    grad = torch.cat([p.grad.reshape(-1) for p in learner.parameters()])
    before = torch.cat([p.detach().reshape(-1) for p in learner.parameters()])
    learner.meta_step(eps, torch.optim.SGD(learner.parameters(), lr=1.0))
    step = before - torch.cat([p.detach().reshape(-1) for p in learner.parameters()])
    expected = grad if clip == 0 else grad * clip / (grad.norm() + 1e-6)  # torch adds 1e-6
    assert torch.allclose(step, expected, rtol=1e-6, atol=1e-12)


def test_meta_lstm_stays_out_of_mixed_precision():
    assert tiny().mixed_precision_ok() is False
