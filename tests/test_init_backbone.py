"""``core.train --init-backbone``: a run's backbone starts from another checkpoint's."""

from __future__ import annotations

import pytest
import torch
from test_cli import TINY_TRAIN

from core import train
from core.algorithms import build_learner
from core.checkpoint import load_checkpoint, save_checkpoint
from core.training.init_backbone import init_backbone


def _source(tmp_path, algorithm="protonet", **config):
    torch.manual_seed(3)
    path = tmp_path / f"{algorithm}-source.pt"
    learner = build_learner(algorithm, config)
    save_checkpoint(path, learner, {"train_characters": ["Greek/character01"]})
    return path, learner


def test_copies_the_backbone_exactly_and_returns_the_sources_classes(tmp_path):
    path, source = _source(tmp_path)
    torch.manual_seed(4)
    target = build_learner("mann", {"slots": 8, "controller": 16})
    first = "encoder.0.0.weight"
    assert not torch.equal(target.backbone.state_dict()[first], source.backbone.state_dict()[first])
    assert init_backbone(target, path) == ("Greek/character01",)
    for (k, a), (_, b) in zip(
        source.backbone.state_dict().items(), target.backbone.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), k


def test_a_larger_input_run_starts_from_a_smaller_inputs_backbone(tmp_path):
    path, source = _source(tmp_path)  # 28 px
    target = build_learner("protonet", {"input_size": 56})
    init_backbone(target, path)
    first = "encoder.0.0.weight"
    assert torch.equal(target.backbone.state_dict()[first], source.backbone.state_dict()[first])
    assert target.backbone(torch.zeros(2, 1, 56, 56)).shape[1] > 64  # a wider embedding
    resnet, _ = _source(tmp_path, "protonet", backbone="resnet12")
    try:
        init_backbone(build_learner("protonet", {}), resnet)
    except ValueError as e:
        assert "differs from this run's conv4" in str(e)
    else:
        raise AssertionError("a ResNet-12 backbone was copied into a Conv-4")


def test_a_run_records_the_sources_classes_and_refuses_mismatches(tiny_root, tmp_path, capsys):
    path, _ = _source(tmp_path)
    out = tmp_path / "run"
    args = ["--algorithm", "siamese", "--data-root", str(tiny_root), "--out", str(out)]
    args += [*TINY_TRAIN, "--episodes", "2", "--init-backbone", str(path)]
    assert train.main(args) == 0
    meta = load_checkpoint(out / "last.pt").metadata
    assert "Greek/character01" in meta["train_characters"]
    assert meta["train_config"]["init_backbone"] == str(path)
    assert len(meta["train_characters"]) > 1  # the run's own classes too
    # a resumed run keeps its own weights (no second copy), and runs
    assert train.main(["--resume", "--out", str(out), "--episodes", "3"]) == 0
    capsys.readouterr()
    wide, _ = _source(tmp_path, "matching", hidden=32)
    bad = [*args[:-1], str(wide)]
    bad[bad.index(str(out))] = str(tmp_path / "bad")
    assert train.main(bad) == 2
    err = capsys.readouterr().err.strip()
    assert "differs from this run's conv4 (hidden 64" in err and len(err.splitlines()) == 1
    resnet, _ = _source(tmp_path, "relation", backbone="resnet12", input_size=64)
    assert train.main([*args[:-1], str(resnet)]) == 2
    assert "its backbone resnet12" in capsys.readouterr().err
    missing = [*args[:-1], str(tmp_path / "nope.pt")]
    assert train.main(missing) == 2
    assert "no such checkpoint file" in capsys.readouterr().err


def test_a_gradient_learner_starts_from_a_metric_learners_backbone_and_back(tmp_path):
    """The gradient learners' BatchNorm keeps no running statistics (each task's batch is
    normalised by its own): their weights still copy both ways, the statistics are left out."""
    path, source = _source(tmp_path)
    target = build_learner("anil", {})
    init_backbone(target, path)
    theirs, ours = source.backbone.state_dict(), target.backbone.state_dict()
    assert "encoder.0.1.running_mean" in theirs and "encoder.0.1.running_mean" not in ours
    for key, value in ours.items():
        assert torch.equal(value, theirs[key]), key
    back = tmp_path / "anil.pt"
    save_checkpoint(back, target, {})
    metric = build_learner("protonet", {})
    init_backbone(metric, back)
    last = "encoder.3.0.weight"
    assert torch.equal(metric.backbone.state_dict()[last], ours[last])
    resnet, _ = _source(tmp_path, "protonet", backbone="resnet12")
    try:
        init_backbone(target, resnet)
    except ValueError as e:
        assert "differs from this run's conv4" in str(e)
    else:
        raise AssertionError("a ResNet-12 backbone was copied into ANIL's Conv-4")


def test_relation_networks_embedding_starts_from_conv4_and_back(tmp_path):
    """Relation's conv4 embedding has Conv-4's layers (only padded and pooled differently)."""
    path, source = _source(tmp_path)
    relation = build_learner("relation", {})
    init_backbone(relation, path)
    theirs, ours = source.backbone.state_dict(), relation.embedding.state_dict()
    assert theirs.keys() == ours.keys()
    for key, value in ours.items():
        assert torch.equal(value, theirs[key]), key
    assert relation.maps(torch.zeros(2, 1, 28, 28)).shape == (2, 64, 5, 5)
    back = tmp_path / "relation.pt"
    save_checkpoint(back, relation, {})
    init_backbone(build_learner("protonet", {}), back)
    del relation.embedding
    with pytest.raises(ValueError, match="relation has no backbone to copy"):
        init_backbone(relation, path)


def test_metasgd_from_a_maml_checkpoint_starts_as_that_maml(tmp_path):
    """Between gradient learners the head row is copied too: Meta-SGD whose learned rates start
    at MAML's inner learning rate adapts exactly as the MAML it started from."""
    config = {"inner_lr": 0.1, "adapt_steps": 2}
    path, maml = _source(tmp_path, "maml", **config)
    with torch.no_grad():
        maml.head.weight.normal_()  # a trained head is not the zero initialisation
        maml.head.bias.fill_(0.3)
    save_checkpoint(path, maml, {})
    torch.manual_seed(5)
    metasgd = build_learner("metasgd", config)
    init_backbone(metasgd, path)
    assert torch.equal(metasgd.head.weight, maml.head.weight)
    support, labels = torch.rand(6, 1, 28, 28), torch.arange(3).repeat(2)
    query = torch.rand(4, 1, 28, 28)
    answers = []
    for learner in (maml, metasgd):
        *_, last = learner.adapt(support, labels)
        answers.append(last.classifier.logits(query))
    torch.testing.assert_close(answers[0], answers[1])
    protonet, _ = _source(tmp_path, "protonet")
    before = metasgd.head.weight.clone()
    init_backbone(metasgd, protonet)  # no head to copy: the head is left as it was
    assert torch.equal(metasgd.head.weight, before)


@pytest.mark.parametrize("algorithm", ["metasgd", "relation"])
def test_the_same_learner_starts_as_the_whole_checkpoint(tmp_path, algorithm):
    """From the same learner everything is copied (Meta-SGD's learned rates, Relation's relation
    module), so the run fine-tunes the checkpoint."""
    path, source = _source(tmp_path, algorithm)
    with torch.no_grad():
        for value in source.parameters():
            value.add_(torch.randn_like(value))
    save_checkpoint(path, source, {})
    torch.manual_seed(9)
    target = build_learner(algorithm, {})
    init_backbone(target, path)
    theirs = source.state_dict()
    for key, value in target.state_dict().items():
        assert torch.equal(value, theirs[key]), key


def test_backbone_lr_gives_the_backbone_its_own_smaller_rate():
    from core.training.config import TrainConfig
    from core.training.trainer import make_optimizer

    learner = build_learner("relation", {})
    one = make_optimizer(TrainConfig(algorithm="relation", lr=1e-3), learner)
    assert len(one.param_groups) == 1 and one.param_groups[0]["lr"] == 1e-3
    two = make_optimizer(TrainConfig(algorithm="relation", lr=1e-3, backbone_lr=0.1), learner)
    backbone, rest = two.param_groups
    assert backbone["lr"] == pytest.approx(1e-4) and rest["lr"] == 1e-3
    ids = {id(p) for p in learner.embedding.parameters()}
    assert {id(p) for p in backbone["params"]} == ids
    assert not ids & {id(p) for p in rest["params"]}  # every other parameter at the full rate
    assert len(backbone["params"]) + len(rest["params"]) == len(list(learner.parameters()))


def test_a_learners_own_rates_get_their_groups_beside_the_backbones():
    """Siamese's offset beta learns at ``offset_lr`` times the rate (its own group), the backbone
    at ``--backbone-lr``, everything else at the full rate, last (the rate a run records)."""
    from core.training.config import TrainConfig
    from core.training.trainer import make_optimizer

    learner = build_learner("siamese", {"features": 8, "offset_lr": 50})
    opt = make_optimizer(TrainConfig(algorithm="siamese", lr=1e-3, backbone_lr=0.1), learner)
    by_rate = {round(g["lr"], 9): {id(p) for p in g["params"]} for g in opt.param_groups}
    assert by_rate[0.05] == {id(learner.alpha.bias)}
    assert by_rate[1e-4] == {id(p) for p in learner.backbone.parameters()}
    assert by_rate[1e-3] == {id(learner.fc.weight), id(learner.fc.bias), id(learner.alpha.weight)}
    assert opt.param_groups[-1]["lr"] == 1e-3
    for bad in (0, -1, float("nan"), float("inf"), 1e6):
        with pytest.raises(ValueError, match="offset_lr"):
            build_learner("siamese", {"offset_lr": bad})


def test_a_run_with_backbone_lr_trains_and_records_the_full_rate(tmp_path, tiny_root):
    out = tmp_path / "run"
    args = [*TINY_TRAIN, "--episodes", "4", "--data-root", str(tiny_root), "--out", str(out)]
    assert train.main([*args, "--backbone-lr", "0.25"]) == 0
    lrs = [line.split(",")[4] for line in (out / "metrics.csv").read_text().splitlines()[1:]]
    assert lrs and all(float(x) == pytest.approx(1e-3) for x in lrs if x)
    assert load_checkpoint(out / "last.pt").metadata["train_config"]["backbone_lr"] == 0.25
