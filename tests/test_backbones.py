"""Backbones by name, the support-statistics BatchNorm module, and the gradient learners on any
backbone: the generic ``functional_call`` path against the hand-tuned Conv-4 path and against
finite differences, adaptation on ResNets, metric learners on ResNets, legacy checkpoints."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from core.algorithms import build_learner, final_step
from core.algorithms.head import HEAD_B, HEAD_W
from core.data.episodes import Episode
from core.models import SupportBatchNorm2d, build_backbone, support_statistics
from core.models.batchnorm import BN_EPS
from core.models.resnet12 import ResBlock12

# (backbone, in_channels, input_size): the smallest inputs each accepts, 1 and 3 channels
TINY_SHAPES = [("conv4", 1, 16), ("conv4", 3, 16), ("resnet12", 3, 16), ("resnet18", 3, 8)]


def rand(*shape, seed=0, dtype=torch.float32) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def episode(n_way=3, shots=1, queries=2, channels=1, size=16, seed=0, dtype=torch.float64):
    return Episode(
        rand(n_way * shots, channels, size, size, seed=seed, dtype=dtype),
        torch.arange(n_way).repeat_interleave(shots),
        rand(n_way * queries, channels, size, size, seed=seed + 100, dtype=dtype),
        torch.arange(n_way).repeat_interleave(queries),
        tuple(f"c{i}" for i in range(n_way)),
    )


# --- the factory ------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "channels", "size"), TINY_SHAPES)
@pytest.mark.parametrize("norm", ["batch", "support"])
def test_backbones_map_images_to_out_features(name, channels, size, norm):
    net = build_backbone(name, channels, size, hidden=4, norm=norm)
    x = rand(3, channels, size, size)
    assert net(x).shape == (3, net.out_features)
    assert net.feature_map(x).shape == (3, *net.map_shape)
    norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d | SupportBatchNorm2d)]
    kind = SupportBatchNorm2d if norm == "support" else nn.BatchNorm2d
    assert norms and all(type(m) is kind for m in norms)


def test_published_widths_and_sizes():
    r12 = build_backbone("resnet12", 3, 84)
    blocks = [m for m in r12.modules() if isinstance(m, ResBlock12)]
    assert [b.conv1.out_channels for b in blocks] == [64, 160, 320, 640]
    assert r12.map_shape == (640, 5, 5) and r12.out_features == 640
    assert sum(p.numel() for p in r12.parameters()) == 12_424_320  # MetaOptNet's 12.4M
    r18 = build_backbone("resnet18", 3, 32)
    assert r18.map_shape == (512, 4, 4) and r18.out_features == 512
    assert sum(p.numel() for p in r18.parameters()) == 11_168_832  # CIFAR ResNet-18 without fc
    assert build_backbone("conv4", 3, 84).out_features == 64 * 5 * 5


def test_conv4_keeps_its_parameter_names():
    names = [k for k, _ in build_backbone("conv4").named_parameters()]
    assert names[:4] == [
        "encoder.0.0.weight",
        "encoder.0.0.bias",
        "encoder.0.1.weight",
        "encoder.0.1.bias",
    ]
    assert len(names) == 16


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "vgg"}, "unknown backbone 'vgg'; choose one of conv4, resnet12, resnet18"),
        ({"name": "resnet12", "input_size": 12}, "resnet12 needs input_size >= 16 px, not 12"),
        ({"name": "resnet18", "input_size": 7}, "resnet18 needs input_size >= 8 px, not 7"),
        ({"name": "conv4", "input_size": 15}, "conv4 needs input_size >= 16 px, not 15"),
        ({"name": "conv4", "in_channels": 0}, "in_channels must be at least 1"),
        ({"name": "conv4", "norm": "layer"}, "unknown norm 'layer'"),
    ],
)
def test_bad_backbone_settings_are_one_line_errors(kwargs, message):
    with pytest.raises(ValueError, match=message) as info:
        build_backbone(**kwargs)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", ["protonet", "maml", "reptile", "matching", "relation"])
def test_learner_configs_refuse_bad_backbones(name):
    with pytest.raises(ValueError, match="unknown backbone"):
        build_learner(name, {"backbone": "vgg"})
    with pytest.raises(ValueError, match="resnet12 needs input_size >= 16"):
        build_learner(name, {"backbone": "resnet12", "input_size": 8})


def test_relation_explains_the_input_it_needs_per_backbone():
    with pytest.raises(ValueError, match=r"too small for relation with resnet12 \(at least 64"):
        build_learner("relation", {"backbone": "resnet12", "input_size": 32})
    with pytest.raises(ValueError, match=r"too small for relation with resnet18 \(at least 25"):
        build_learner("relation", {"backbone": "resnet18", "input_size": 24})


def test_images_with_the_wrong_channel_count_are_refused():
    learner = build_learner("maml", {"hidden": 4, "input_size": 16})
    ep = episode(channels=3, dtype=torch.float32)
    with pytest.raises(ValueError, match=r"3 channel\(s\) but this model takes 1"):
        next(learner.adapt(ep.support, ep.support_labels))


# --- SupportBatchNorm2d -------------------------------------------------------------------------


def test_support_batch_norm_module_follows_the_context():
    torch.manual_seed(0)
    bn = SupportBatchNorm2d(3)
    with torch.no_grad():
        bn.weight.uniform_(0.5, 2), bn.bias.uniform_(-1, 1)
    h = torch.randn(6, 3, 4, 4)
    plain = F.batch_norm(h, None, None, bn.weight, bn.bias, training=True, eps=BN_EPS)
    assert torch.allclose(bn(h), plain, atol=1e-5)
    assert torch.allclose(bn.eval()(h), plain, atol=1e-5)  # no running statistics
    with support_statistics(2):
        both = bn(h)
    assert torch.allclose(both[:2], bn(h[:2]), atol=1e-5)
    ref = h[:2]
    mean, var = ref.mean((0, 2, 3), keepdim=True), ref.var((0, 2, 3), unbiased=False, keepdim=True)
    expected = (h - mean) / (var + BN_EPS).sqrt() * bn.weight.view(1, -1, 1, 1)
    assert torch.allclose(both, expected + bn.bias.view(1, -1, 1, 1), atol=1e-5)
    assert torch.allclose(bn(h), plain, atol=1e-5)  # the context ended
    assert list(bn.state_dict()) == ["weight", "bias"]


def test_gradient_learners_load_state_dicts_with_running_statistics():
    """Checkpoints of earlier releases hold nn.BatchNorm2d buffers the learners never used."""
    learner = build_learner("maml", {"hidden": 4, "input_size": 16})
    state = dict(learner.state_dict())
    state["backbone.encoder.0.1.running_mean"] = torch.zeros(4)
    state["backbone.encoder.0.1.running_var"] = torch.ones(4)
    state["backbone.encoder.0.1.num_batches_tracked"] = torch.tensor(7)
    learner.load_state_dict(state)  # strict
    state["backbone.encoder.0.1.something_else"] = torch.ones(4)
    with pytest.raises(RuntimeError, match="something_else"):
        learner.load_state_dict(state)


def test_configs_of_earlier_releases_mean_conv4_on_one_channel():
    learner = build_learner("maml", {"hidden": 4, "input_size": 16, "inner_steps": 2})
    assert (learner.config.backbone, learner.config.in_channels) == ("conv4", 1)
    assert learner.fast_path
    assert not build_learner("maml", {"backbone": "resnet18", "input_size": 8}).fast_path


# --- gradient learners: generic path == fast path on Conv-4 -------------------------------------


def tiny_learner(name: str, **config) -> nn.Module:
    torch.manual_seed(0)
    learner = build_learner(name, {"hidden": 3, "input_size": 16, **config}).double()
    with torch.no_grad():  # a non-zero head row, so every term of the meta-gradient is exercised
        learner.head.weight.normal_(0, 0.5)
        learner.head.bias.fill_(0.1)
    return learner


def meta_gradient(learner, episodes) -> torch.Tensor:
    learner.zero_grad(set_to_none=True)
    learner.meta_loss(episodes).loss.backward()
    return torch.cat([p.grad.reshape(-1) for p in learner.parameters()])


@pytest.mark.parametrize("name", ["maml", "fomaml", "metasgd", "anil"])
def test_generic_path_gives_the_fast_paths_meta_gradient_on_conv4(name):
    learner = tiny_learner(name, inner_steps=2, inner_lr=0.3)
    eps = [episode(seed=1), episode(seed=2)]
    assert learner.fast_path
    fast = meta_gradient(learner, eps)
    learner.fast_path = False
    generic = meta_gradient(learner, eps)
    assert torch.allclose(generic, fast, rtol=1e-9, atol=1e-12)
    assert fast.abs().max() > 1e-3


def test_generic_path_gives_the_same_reptile_step_on_conv4():
    eps = [episode(seed=1, queries=1), episode(seed=2, queries=1)]
    after = []
    for fast in (True, False):
        learner = tiny_learner("reptile", inner_steps=3, inner_batch=4, inner_lr=0.01)
        learner.fast_path = fast
        learner.meta_step(eps, torch.optim.SGD(learner.parameters(), lr=0.5))
        after.append(torch.cat([p.detach().reshape(-1) for p in learner.parameters()]))
    assert torch.allclose(*after, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ["maml", "anil", "reptile"])
def test_generic_path_adapts_like_the_fast_path_on_conv4(name):
    learner = tiny_learner(name)
    ep = episode(shots=2, seed=3)
    runs = []
    for fast in (True, False):
        learner.fast_path = fast
        runs.append(list(learner.adapt(ep.support, ep.support_labels, ep.query, steps=3)))
    for a, b in zip(*runs, strict=True):
        assert a.loss == pytest.approx(b.loss, rel=1e-10)
        assert torch.allclose(a.query_probs, b.query_probs, atol=1e-12)
    assert torch.allclose(
        runs[0][-1].classifier.logits(ep.query), runs[1][-1].classifier.logits(ep.query)
    )


# --- gradient learners on ResNets ---------------------------------------------------------------


def test_generic_second_order_meta_gradient_matches_finite_differences_on_resnet12():
    torch.manual_seed(0)
    learner = build_learner(
        "maml",
        {
            "backbone": "resnet12",
            "in_channels": 3,
            "input_size": 16,
            "hidden": 2,
            "inner_steps": 2,
            "inner_lr": 0.3,
        },
    ).double()
    with torch.no_grad():
        learner.head.weight.normal_(0, 0.5)
    eps = [episode(n_way=2, shots=2, queries=1, channels=3, seed=5)]
    grad = meta_gradient(learner, eps)
    params = list(learner.parameters())
    base = [p.detach().clone() for p in params]

    def loss_at(direction: torch.Tensor, step: float) -> float:
        offset = 0
        with torch.no_grad():
            for p, b in zip(params, base, strict=True):
                p.copy_(b + step * direction[offset : offset + p.numel()].view_as(p))
                offset += p.numel()
        return float(learner.meta_loss(eps).loss.detach())

    gen = torch.Generator().manual_seed(0)
    try:
        for _ in range(3):
            v = torch.randn(grad.numel(), generator=gen, dtype=torch.float64)
            v /= v.norm()
            fd = (loss_at(v, 1e-6) - loss_at(v, -1e-6)) / 2e-6
            assert float(grad @ v) == pytest.approx(fd, rel=1e-5, abs=1e-9)
    finally:
        with torch.no_grad():
            for p, b in zip(params, base, strict=True):
                p.copy_(b)


@pytest.mark.parametrize("name", ["maml", "anil", "metasgd", "reptile"])
@pytest.mark.parametrize(("backbone", "size"), [("resnet12", 16), ("resnet18", 32)])
def test_adaptation_on_resnets_lowers_the_support_loss(name, backbone, size):
    torch.manual_seed(0)
    config = {"backbone": backbone, "in_channels": 3, "input_size": size, "hidden": 8}
    config["inner_lr"] = 0.01 if name == "reptile" else 0.02  # untrained: large features
    learner = build_learner(name, config).eval()
    before = {k: v.clone() for k, v in learner.state_dict().items()}
    ep = episode(n_way=3, shots=2, queries=2, channels=3, size=size, dtype=torch.float32)
    steps = list(learner.adapt(ep.support, ep.support_labels, ep.query, steps=3, lr=None))
    assert [s.step for s in steps] == [0, 1, 2, 3]
    assert steps[-1].loss < steps[0].loss
    clf = steps[-1].classifier
    assert torch.allclose(torch.softmax(clf.logits(ep.query), 1), steps[-1].query_probs, atol=1e-5)
    assert torch.allclose(clf.logits(ep.query[:1]), clf.logits(ep.query)[:1], atol=1e-5)
    assert all(torch.equal(v, before[k]) for k, v in learner.state_dict().items())


def test_a_meta_step_on_resnet18_moves_every_weight():
    torch.manual_seed(0)
    learner = build_learner(
        "maml",
        {"backbone": "resnet18", "in_channels": 3, "input_size": 8, "hidden": 4, "inner_steps": 2},
    )
    with torch.no_grad():
        learner.head.weight.normal_(0, 0.5)
    learner.meta_loss([episode(channels=3, size=8, dtype=torch.float32)]).loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in learner.parameters())
    assert learner.head.weight.shape == (1, 32) and {HEAD_W, HEAD_B} <= set(learner.weights())


# --- metric learners on ResNets -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "config"),
    [
        ("protonet", {"backbone": "resnet12", "input_size": 16}),
        ("matching", {"backbone": "resnet18", "input_size": 8, "fce": True}),
        ("relation", {"backbone": "resnet18", "input_size": 32}),
        ("relation", {"backbone": "resnet12", "input_size": 64, "hidden": 2}),
    ],
)
def test_metric_learners_train_and_adapt_on_resnets(name, config):
    torch.manual_seed(0)
    learner = build_learner(name, {"in_channels": 3, "hidden": 4, **config})
    size = learner.config.input_size
    ep = episode(n_way=3, shots=2, queries=1, channels=3, size=size, dtype=torch.float32)
    learner.train()
    learner.meta_loss([ep]).loss.backward()
    assert all(p.grad is not None for p in learner.parameters())
    learner.eval()
    step = final_step(learner.adapt(ep.support, ep.support_labels, ep.query))
    assert step.query_probs.shape == (3, 3)
    assert learner.embed(ep.query).shape[0] == 3 and learner.embed(ep.query).ndim == 2


def test_inference_batch_norm_is_the_functions_forward_bit_for_bit():
    """Without gradients, batch_norm calls plain operators (traceable for core.export) that give
    exactly what the autograd Functions' forward passes give, in both memory layouts."""
    from core.models.batchnorm import _BatchNorm, _SupportNorm, batch_norm

    g = torch.Generator().manual_seed(0)
    h = torch.randn(7, 8, 5, 5, generator=g)
    w, b = torch.rand(8, generator=g), torch.randn(8, generator=g)
    for x in (h, h.contiguous(memory_format=torch.channels_last)):
        with torch.no_grad():
            assert torch.equal(batch_norm(x, w, b, None), _BatchNorm.apply(x, w, b))
            assert torch.equal(batch_norm(x, w, b, 3), _SupportNorm.apply(x, w, b, 3))
