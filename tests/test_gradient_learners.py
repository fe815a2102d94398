"""Gradient-based learners (MAML, FOMAML, ANIL, Meta-SGD, Reptile): maths, protocol, learning.

The meta-gradients are checked in float64 against central finite differences on a tiny Conv-4
with BatchNorm, FOMAML and the inner loop against closed forms on a quadratic toy, and Reptile's
outer update against a plain ``nn.Module`` + ``torch.optim`` re-implementation of the paper.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from core.algorithms import ALGORITHMS, build_learner, final_step
from core.algorithms import gradient as functional
from core.algorithms import maml as maml_module
from core.algorithms import reptile as reptile_module
from core.algorithms.conv4_fast import features
from core.algorithms.gradient import FastClassifier, task_batches
from core.algorithms.head import HEAD_B, HEAD_W
from core.algorithms.inner_loop import LIVE_QUERIES, inner_loop, last, sgd
from core.algorithms.reptile import interleaved
from core.data.episodes import Episode, EpisodeSpec, episodes
from core.data.splits import load_split
from core.models.batchnorm import BN_EPS, _BatchNorm, _SupportNorm

GRADIENT = ("maml", "fomaml", "anil", "metasgd", "reptile")
TINY = {"hidden": 3, "input_size": 16}


def toy_episode(gen: torch.Generator, n_way=3, shots=1, queries=2, size=16, dtype=torch.float64):
    def images(n):
        return torch.rand(n, 1, size, size, generator=gen, dtype=dtype)

    return Episode(
        images(n_way * shots),
        torch.arange(n_way).repeat_interleave(shots),
        images(n_way * queries),
        torch.arange(n_way).repeat_interleave(queries),
        tuple(f"c{i}" for i in range(n_way)),
    )


def tiny_learner(name: str, **config) -> nn.Module:
    torch.manual_seed(0)
    learner = build_learner(name, {**TINY, **config}).double()
    with torch.no_grad():  # a non-zero head row, so every term of the meta-gradient is exercised
        learner.head.weight.normal_(0, 0.5)
        learner.head.bias.fill_(0.1)
    return learner


def flat_grad(learner, episodes_) -> torch.Tensor:
    learner.zero_grad(set_to_none=True)
    learner.meta_loss(episodes_).loss.backward()
    return torch.cat([p.grad.reshape(-1) for p in learner.parameters()])


def directional_fd(learner, episodes_, direction: torch.Tensor, eps=1e-6) -> float:
    """Central finite difference of the meta-loss along ``direction`` (flat, all parameters)."""
    params = list(learner.parameters())
    base = [p.detach().clone() for p in params]

    def loss_at(sign: float) -> float:
        offset = 0
        with torch.no_grad():
            for p, b in zip(params, base, strict=True):
                n = p.numel()
                p.copy_(b + sign * eps * direction[offset : offset + n].view_as(p))
                offset += n
        return float(learner.meta_loss(episodes_).loss.detach())  # inner loop needs autograd

    try:
        return (loss_at(1.0) - loss_at(-1.0)) / (2 * eps)
    finally:
        with torch.no_grad():
            for p, b in zip(params, base, strict=True):
                p.copy_(b)


@pytest.mark.parametrize("name", ["maml", "anil", "metasgd"])
def test_second_order_meta_gradient_matches_finite_differences_with_batchnorm(name):
    gen = torch.Generator().manual_seed(1)
    learner = tiny_learner(name, inner_steps=2, inner_lr=0.5)
    eps_ = [toy_episode(gen), toy_episode(gen)]
    grad = flat_grad(learner, eps_)
    for i in range(4):
        v = torch.randn(grad.numel(), generator=gen, dtype=torch.float64)
        v /= v.norm()
        fd = directional_fd(learner, eps_, v)
        analytic = float(grad @ v)
        assert analytic == pytest.approx(fd, rel=1e-5, abs=1e-9), f"direction {i}"
    # BatchNorm scale of the first block and the head row, coordinate by coordinate
    names = [k for k, _ in learner.named_parameters()]
    sizes = [p.numel() for p in learner.parameters()]
    starts = dict(zip(names, torch.tensor([0, *sizes[:-1]]).cumsum(0).tolist(), strict=True))
    for key in ("backbone.encoder.0.1.weight", HEAD_W):
        e = torch.zeros(grad.numel(), dtype=torch.float64)
        e[starts[key]] = 1.0
        assert float(grad[starts[key]]) == pytest.approx(
            directional_fd(learner, eps_, e), rel=1e-5, abs=1e-9
        )


def test_first_order_gradient_is_not_the_true_meta_gradient():
    """The finite-difference check above can fail: FOMAML's gradient visibly differs from it."""
    gen = torch.Generator().manual_seed(1)
    learner = tiny_learner("fomaml", inner_steps=2, inner_lr=0.5)
    eps_ = [toy_episode(gen), toy_episode(gen)]
    grad = flat_grad(learner, eps_)
    v = torch.randn(grad.numel(), generator=gen, dtype=torch.float64)
    v /= v.norm()
    fd = directional_fd(learner, eps_, v)
    assert abs(float(grad @ v) - fd) > 1e-3 * abs(fd)


@pytest.mark.parametrize("name", ["maml", "fomaml", "anil", "metasgd"])
def test_batched_tasks_give_the_same_meta_gradient_as_a_loop(name):
    gen = torch.Generator().manual_seed(2)
    learner = tiny_learner(name, inner_steps=3, inner_lr=0.3)
    eps_ = [toy_episode(gen) for _ in range(3)]
    learner.batch_tasks = True
    batched = flat_grad(learner, eps_)
    learner.batch_tasks = False
    looped = flat_grad(learner, eps_)
    assert torch.allclose(batched, looped, rtol=1e-9, atol=1e-12)


def test_functional_forward_equals_the_conv4_module_in_training_mode():
    torch.manual_seed(0)
    learner = build_learner("maml", TINY).double()
    images = torch.rand(2, 6, 1, 16, 16, dtype=torch.float64)
    fast = learner.task_weights(2, 3)
    backbone = {k.removeprefix("backbone."): v[0] for k, v in fast.items() if "backbone" in k}
    for t in range(2):
        expected = torch.func.functional_call(learner.backbone.train(), backbone, (images[t],))
        assert torch.allclose(features(fast, images)[t], expected)
    # queries normalised with the support statistics: the support rows are unchanged
    both = features(fast, images, n_stats=4)
    assert torch.allclose(both[:, :4], features(fast, images[:, :4]))
    assert not torch.allclose(both[:, 4:], features(fast, images[:, 4:]))


def test_functional_forward_with_different_weights_per_task_matches_single_tasks():
    """Grouped layout (first layer as a matrix product, later ones grouped convolutions)."""
    torch.manual_seed(1)
    learner = build_learner("maml", TINY).double()
    fast = {k: v + 0.1 * torch.randn_like(v) for k, v in learner.task_weights(3, 2).items()}
    images = torch.rand(3, 5, 1, 16, 16, dtype=torch.float64)
    together = features(fast, images, n_stats=2)
    for t in range(3):
        alone = features({k: v[t : t + 1] for k, v in fast.items()}, images[t : t + 1], 2)
        assert torch.allclose(together[t], alone[0])


def _plain_support_norm(h, weight, bias, n_stats):
    ref = h[:n_stats]
    mean = ref.mean((0, 2, 3), keepdim=True)
    var = ref.var((0, 2, 3), unbiased=False, keepdim=True)
    return (h - mean) * torch.rsqrt(var + BN_EPS) * weight.view(1, -1, 1, 1) + bias.view(
        1, -1, 1, 1
    )


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_support_statistics_batch_norm_gradient(layout):
    """The hand-written backward of the query pass's BatchNorm: finite differences, the plain
    formula's autograd, and a clear error on a second derivative (it is first-order only)."""
    torch.manual_seed(0)
    h = torch.randn(7, 3, 4, 5, dtype=torch.float64).contiguous(memory_format=layout)
    h.requires_grad_(True)
    w = torch.rand(3, dtype=torch.float64, requires_grad=True)
    b = torch.rand(3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda *a: _SupportNorm.apply(*a, 2), (h, w, b))
    out = _SupportNorm.apply(h, w, b, 2)
    assert torch.allclose(out, _plain_support_norm(h, w, b, 2))
    g = torch.randn_like(out)
    ours = torch.autograd.grad(out, (h, w, b), g)
    plain = torch.autograd.grad(_plain_support_norm(h, w, b, 2), (h, w, b), g)
    assert all(torch.allclose(a, e, atol=1e-12) for a, e in zip(ours, plain, strict=True))
    (gh,) = torch.autograd.grad(_SupportNorm.apply(h, w, b, 2).square().sum(), h, create_graph=True)
    with pytest.raises(RuntimeError, match=r"twice|once_differentiable|double"):
        gh.sum().backward()


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_batch_statistics_batch_norm_first_and_second_derivatives(layout):
    """The inner loop's BatchNorm equals PyTorch's, through a gradient of a gradient too."""
    torch.manual_seed(0)
    h = torch.randn(5, 3, 4, 4, dtype=torch.float64).contiguous(memory_format=layout)
    h.requires_grad_(True)
    w = torch.rand(3, dtype=torch.float64, requires_grad=True)
    b = torch.rand(3, dtype=torch.float64, requires_grad=True)
    g = torch.randn(5, 3, 4, 4, dtype=torch.float64)

    def second(norm):
        gh, gw, _ = torch.autograd.grad(norm(h, w, b), (h, w, b), g, create_graph=True)
        return torch.autograd.grad(gh.square().sum() + (gw * gw).sum(), (h, w))

    def native(h, w, b):
        return F.batch_norm(h, None, None, w, b, training=True, eps=BN_EPS)

    assert torch.allclose(_BatchNorm.apply(h, w, b), native(h, w, b))
    first = [torch.autograd.grad(f(h, w, b), (h, w, b), g) for f in (_BatchNorm.apply, native)]
    assert all(torch.allclose(a, e) for a, e in zip(*first, strict=True))
    ours, expected = second(_BatchNorm.apply), second(native)
    assert all(torch.allclose(a, e) for a, e in zip(ours, expected, strict=True))
    assert torch.autograd.gradgradcheck(_BatchNorm.apply, (h, w, b))


def _untied(monkeypatch, module):
    """Make ``module`` run the inner loop without the head-only first step and feature reuse."""
    real = module.inner_loop
    monkeypatch.setattr(module, "inner_loop", lambda *a, **k: real(*a, **{**k, "tied_head": False}))
    if hasattr(module, "FeatureCache"):
        monkeypatch.setattr(module, "FeatureCache", lambda: features)


@pytest.mark.parametrize("name", ["maml", "fomaml", "metasgd"])
def test_head_only_first_step_gives_the_same_meta_gradient(name, monkeypatch):
    gen = torch.Generator().manual_seed(4)
    learner = tiny_learner(name, inner_steps=3, inner_lr=0.3)
    eps_ = [toy_episode(gen) for _ in range(2)]
    tied = flat_grad(learner, eps_)
    _untied(monkeypatch, maml_module)
    full = flat_grad(learner, eps_)
    assert torch.allclose(tied, full, rtol=1e-9, atol=1e-12)


def test_reptile_meta_step_is_unchanged_by_the_head_only_first_step(monkeypatch):
    gen = torch.Generator().manual_seed(5)
    eps_ = [toy_episode(gen) for _ in range(2)]
    results = []
    for patch in (False, True):
        if patch:
            _untied(monkeypatch, reptile_module)
        learner = tiny_learner("reptile", inner_steps=3, inner_batch=4, inner_lr=0.01)
        learner.meta_step(eps_, torch.optim.SGD(learner.parameters(), lr=1.0))
        results.append(torch.cat([p.detach().reshape(-1) for p in learner.parameters()]))
    # the full first step's backbone gradient is rounding noise (~1e-17), which Adam's
    # normalisation turns into steps of ~1e-11; the head-only step is exactly zero there
    assert torch.allclose(*results, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", ["maml", "metasgd", "reptile"])
def test_adaptation_reuses_the_first_forward_pass_and_keeps_its_curve(name, monkeypatch):
    gen = torch.Generator().manual_seed(6)
    ep = toy_episode(gen, n_way=3, shots=2)
    learner = tiny_learner(name)
    calls = []
    real = functional.features
    monkeypatch.setattr(functional, "features", lambda *a, **k: calls.append(1) or real(*a, **k))
    tied = list(learner.adapt(ep.support, ep.support_labels, ep.query, steps=4))
    assert len(calls) == 4  # steps 0 and 1 share one forward pass: 5 states, 4 passes
    _untied(monkeypatch, functional)
    full = list(learner.adapt(ep.support, ep.support_labels, ep.query, steps=4))
    assert [s.loss for s in tied] == pytest.approx([s.loss for s in full], rel=1e-10)
    assert torch.allclose(tied[-1].query_probs, full[-1].query_probs, atol=1e-10)
    assert tied[0].loss == pytest.approx(math.log(3))  # equal scores before the first step


def test_inner_loop_and_first_order_gradient_on_a_quadratic_toy():
    """loss_s(w) = a/2 (w - c)^2, loss_q(w) = b/2 (w - d)^2, k SGD steps at rate lr.

    w_k - c = (1 - lr a)^k (w0 - c); the true meta-gradient is b (w_k - d) (1 - lr a)^k and the
    first-order one b (w_k - d).
    """
    a, b, c, d, lr, k, w0 = 2.0, 3.0, 1.0, -1.0, 0.1, 3, 0.5
    w_k = c + (1 - lr * a) ** k * (w0 - c)  # 1 - 0.8^3 * 0.5 = 0.744
    assert w_k == pytest.approx(0.744)
    for create_graph, expected in ((True, b * (w_k - d) * 0.8**3), (False, b * (w_k - d))):
        w = torch.tensor(w0, dtype=torch.float64, requires_grad=True)
        states = list(
            inner_loop(
                {"w": w * 1.0},
                lambda fast, step: (a / 2 * (fast["w"] - c) ** 2, None),
                k,
                sgd(lr),
                create_graph=create_graph,
            )
        )
        assert [float(s.loss.detach()) for s in states] == pytest.approx(
            [a / 2 * (0.8**i * (w0 - c)) ** 2 for i in range(k + 1)]
        )
        final = states[-1].fast["w"]
        assert float(final.detach()) == pytest.approx(w_k)
        (grad,) = torch.autograd.grad(b / 2 * (final - d) ** 2, w)
        assert float(grad) == pytest.approx(expected)  # 1.5384 (2nd order), 5.232 (1st order)


def test_fomaml_gradient_is_the_query_gradient_at_the_adapted_weights():
    gen = torch.Generator().manual_seed(3)
    learner = tiny_learner("fomaml", inner_steps=2, inner_lr=0.5)
    eps_ = [toy_episode(gen), toy_episode(gen)]
    grad = flat_grad(learner, eps_)
    # the same adaptation done by hand with a module copy and torch.optim.SGD, per task
    expected = torch.zeros_like(grad)
    for ep in eps_:
        (batch,) = task_batches([ep])
        fast = {k: v.detach().requires_grad_() for k, v in learner.adapted_weights(batch).items()}
        ref = _reference_adapt(learner, ep.support, ep.support_labels, 2, "sgd", 0.5, 0)
        for k, v in fast.items():
            assert torch.allclose(v[0], ref[k], atol=1e-12), k
        loss, _ = learner.query_loss(fast, batch)
        grads = torch.autograd.grad(loss, list(fast.values()))
        parts = []
        for (k, _), g in zip(fast.items(), grads, strict=True):
            g = g[0].sum(0, keepdim=True) if k in (HEAD_W, HEAD_B) else g[0]
            parts.append(g.reshape(-1))
        expected += torch.cat(parts) / len(eps_)
    assert torch.allclose(grad, expected, atol=1e-12)


def _reference_adapt(learner, images, labels, steps, optimizer, lr, batch, order=None):
    """The paper's way: copy the network (Conv-4 + an n_way-row linear head), train it with
    ``torch.optim`` on the task's images, return its weights by our parameter names."""
    n_way = int(labels.max()) + 1
    backbone = copy.deepcopy(learner.backbone).train()
    head = nn.Linear(backbone.out_features, n_way).double()
    with torch.no_grad():
        head.weight.copy_(learner.head.weight.expand(n_way, -1))
        head.bias.copy_(learner.head.bias.expand(n_way))
    params = list(backbone.parameters()) + list(head.parameters())
    if optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=lr)
    else:
        opt = torch.optim.Adam(params, lr=lr, betas=(0.0, 0.999), eps=1e-8)
    n = len(labels)
    size = batch if 0 < batch < n else n
    order = torch.arange(n) if order is None else order
    for step in range(steps):
        idx = order[(step * size + torch.arange(size)) % n]
        opt.zero_grad()
        F.cross_entropy(head(backbone(images[idx])), labels[idx]).backward()
        opt.step()
    out = {f"backbone.{k}": v.detach() for k, v in backbone.named_parameters()}
    out.update({HEAD_W: head.weight.detach(), HEAD_B: head.bias.detach()})
    return out


def test_interleaved_order_alternates_classes():
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 0, 1, 2])
    assert interleaved(labels, 3).tolist() == [0, 2, 4, 1, 3, 5, 6, 7, 8]


@pytest.mark.parametrize("inner_optimizer", ["sgd", "adam"])
def test_reptile_update_matches_a_plain_pytorch_reptile_step(inner_optimizer):
    """theta' = theta + eps * (mean_tasks(phi) - theta) with SGD(eps) as the outer optimiser;
    phi from a module copy trained with torch.optim on mini-batches of the task's images."""
    gen = torch.Generator().manual_seed(4)
    lr = 0.05 if inner_optimizer == "sgd" else 0.01
    learner = tiny_learner(
        "reptile", inner_steps=3, inner_lr=lr, inner_batch=4, inner_optimizer=inner_optimizer
    )
    eps_ = [toy_episode(gen, queries=1), toy_episode(gen, queries=1)]
    theta = {k: v.detach().clone() for k, v in learner.weights().items()}
    phis = []
    for ep in eps_:
        images = torch.cat([ep.support, ep.query])
        labels = torch.cat([ep.support_labels, ep.query_labels])
        order = interleaved(labels, 3)
        phis.append(_reference_adapt(learner, images, labels, 3, inner_optimizer, lr, 4, order))
    outer_lr = 0.5
    learner.meta_step(eps_, torch.optim.SGD(learner.parameters(), lr=outer_lr))
    for k, p in learner.weights().items():
        phi = torch.stack([ph[k] for ph in phis]).mean(0)
        if k in (HEAD_W, HEAD_B):
            phi = phi.mean(0, keepdim=True)
        expected = theta[k] + outer_lr * (phi - theta[k])
        assert torch.allclose(p.detach(), expected, atol=1e-10), k
        if k.startswith("backbone") and k.endswith("weight"):
            assert not torch.allclose(p.detach(), theta[k]), f"{k} did not move"


@pytest.mark.parametrize("name", GRADIENT)
def test_adapt_yields_every_step_and_never_changes_the_weights(name):
    gen = torch.Generator().manual_seed(5)
    learner = build_learner(name, {}).eval()
    before = {k: v.clone() for k, v in learner.state_dict().items()}
    n_way = 7  # more classes than in training: the head row serves any number of classes
    ep = toy_episode(gen, n_way=n_way, shots=2, queries=2, size=28, dtype=torch.float32)
    steps = list(learner.adapt(ep.support, ep.support_labels, ep.query, steps=4))
    assert [s.step for s in steps] == [0, 1, 2, 3, 4]
    assert all(s.total_steps == 4 for s in steps)
    assert steps[0].loss == pytest.approx(math.log(n_way), rel=1e-5)  # zero head: uniform
    assert steps[-1].loss < steps[0].loss
    for s in steps:
        assert s.query_probs.shape == (len(ep.query), n_way)
        assert torch.allclose(s.query_probs.sum(1), torch.ones(len(ep.query)))
        clf = s.classifier
        assert isinstance(clf, FastClassifier) and clf.n_way == n_way
        assert torch.allclose(torch.softmax(clf.logits(ep.query), 1), s.query_probs, atol=1e-5)
        # one query alone gets the same scores as in a batch (BN uses the support statistics)
        assert torch.allclose(clf.logits(ep.query[:1]), clf.logits(ep.query)[:1], atol=1e-5)
    for k, v in learner.state_dict().items():
        assert torch.equal(v, before[k]), f"adaptation changed {k}"
    assert all(p.grad is None for p in learner.parameters())


@pytest.mark.parametrize("name", ["maml", "reptile"])
def test_large_query_sets_are_classified_after_the_last_step_only(name):
    learner = build_learner(name, {}).eval()
    gen = torch.Generator().manual_seed(7)
    ep = toy_episode(gen, 5, 1, LIVE_QUERIES // 5 + 1, size=28, dtype=torch.float32)
    assert len(ep.query) > LIVE_QUERIES
    many = list(learner.adapt(ep.support, ep.support_labels, ep.query, steps=3))
    few = list(learner.adapt(ep.support, ep.support_labels, ep.query[:2], steps=3))
    assert [s.query_probs is None for s in many] == [True, True, True, False]
    assert all(s.query_probs is not None for s in few)
    for a, b in zip(many, few, strict=True):  # leaving the queries out changes nothing else
        assert a.loss == pytest.approx(b.loss, rel=1e-5)
    assert torch.allclose(many[-1].query_probs[:2], few[-1].query_probs, atol=1e-5)


@pytest.mark.parametrize("name", GRADIENT)
def test_adapt_works_under_no_grad_and_for_two_classes(name):
    learner = build_learner(name, {"adapt_steps": 2})
    gen = torch.Generator().manual_seed(6)
    ep = toy_episode(gen, n_way=2, shots=1, queries=1, size=28, dtype=torch.float32)
    with torch.no_grad():
        last_step = final_step(learner.adapt(ep.support, ep.support_labels))
    assert last_step.step == 2 and last_step.query_probs is None
    assert last_step.classifier.logits(ep.query).shape == (2, 2)


def test_configs_validate_and_fomaml_defaults_to_first_order():
    assert build_learner("fomaml").config.first_order is True
    assert build_learner("maml").config.first_order is False
    assert build_learner("maml", {"first_order": "true"}).config.first_order is True
    with pytest.raises(ValueError, match="first_order"):
        build_learner("maml", {"first_order": "maybe"})
    with pytest.raises(ValueError, match="inner_steps"):
        build_learner("anil", {"inner_steps": 0})
    with pytest.raises(ValueError, match="inner_optimizer"):
        build_learner("reptile", {"inner_optimizer": "lbfgs"})
    for name in GRADIENT:
        cfg = ALGORITHMS[name][1]
        assert {"hidden", "input_size", "inner_steps", "inner_lr", "adapt_steps"} <= set(
            cfg.__dataclass_fields__
        )
        assert all(f.metadata.get("help") for f in cfg.__dataclass_fields__.values())


def test_metasgd_learns_its_inner_learning_rates():
    gen = torch.Generator().manual_seed(7)
    learner = tiny_learner("metasgd", inner_steps=2, inner_lr=0.3)
    lrs = {k: v.detach().clone() for k, v in learner.learned_lrs().items()}
    opt = torch.optim.Adam(learner.parameters(), lr=1e-2)
    learner.meta_step([toy_episode(gen)], opt)
    moved = [k for k, v in learner.learned_lrs().items() if not torch.equal(v.detach(), lrs[k])]
    assert HEAD_W in moved and "backbone.encoder.3.1.weight" in moved


def _query_loss_after_adapt(learner, eps_) -> float:
    total = 0.0
    for ep in eps_:
        clf = final_step(learner.adapt(ep.support, ep.support_labels)).classifier
        total += float(F.cross_entropy(clf.logits(ep.query), ep.query_labels))
    return total / len(eps_)


@pytest.mark.parametrize("name", GRADIENT)
def test_a_short_meta_training_lowers_the_query_loss(name, tiny_root):
    torch.set_num_threads(1)
    bank = load_split(tiny_root, "vinyals", "train", 28)
    spec = EpisodeSpec(3, 1, 3)
    held_out = list(episodes(bank, spec, 8, seed=99))
    torch.manual_seed(0)
    settings = {"hidden": 8, "adapt_steps": 3, "inner_steps": 3}
    if name == "reptile":  # Adam(beta1=0) inner steps; the outer "gradient" is theta - phi
        settings["inner_lr"] = 0.01
    learner = build_learner(name, settings)
    lr = 1e-2 if name == "reptile" else 3e-3
    opt = torch.optim.Adam(learner.parameters(), lr=lr)
    before = _query_loss_after_adapt(learner, held_out)
    for batch in range(25):
        learner.meta_step(list(episodes(bank, spec, 4, seed=batch)), opt)
    after = _query_loss_after_adapt(learner, held_out)
    assert after < 0.9 * before, (before, after)


def test_train_cli_runs_maml_end_to_end_and_the_checkpoint_adapts(tiny_root, tmp_path):
    from core.checkpoint import load_checkpoint
    from core.train import main

    out = tmp_path / "run"
    args = ["--algorithm", "fomaml", "--data-root", str(tiny_root), "--ways", "3", "--shots", "1"]
    args += ["--queries", "2", "--meta-batch", "2", "--episodes", "2", "--val-every", "2"]
    args += ["--val-episodes", "2", "--val-ways", "3", "--hidden", "8", "--inner-steps", "2"]
    args += ["--out", str(out), "--threads", "1"]
    assert main(args) == 0
    ckpt = load_checkpoint(out / "best.pt")
    assert ckpt.learner.name == "fomaml" and ckpt.learner.config.first_order is True
    gen = torch.Generator().manual_seed(8)
    ep = toy_episode(gen, n_way=4, size=28, dtype=torch.float32)
    last_step = final_step(ckpt.learner.adapt(ep.support, ep.support_labels, ep.query))
    assert last_step.step == ckpt.learner.config.adapt_steps


def test_last_returns_the_final_state():
    states = inner_loop(
        {"w": torch.tensor(1.0, requires_grad=True)},
        lambda fast, step: (fast["w"] ** 2, None),
        2,
        sgd(0.25),
        create_graph=False,
        evaluate_last=False,
    )
    final = last(states)
    assert final.step == 2 and final.loss is None and float(final.fast["w"]) == 0.25
