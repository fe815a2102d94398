"""Evaluation-time choices of core.evaluate: test-time augmentation (--tta), ensembles and the
transductive protocol (--transductive)."""

from __future__ import annotations

import json

import pytest
import torch
from toys import toy_episode

from core import evaluate
from core.algorithms import build_learner, final_step
from core.algorithms.gradient import FastClassifier
from core.algorithms.protonet import prototypes
from core.data.tta import VIEWS, augmented_support, averaged_probs, views


def _dot(side: int) -> torch.Tensor:
    img = torch.zeros(1, 1, side, side)
    img[..., side // 2, side // 2] = 1.0
    return img


def _centre(img: torch.Tensor) -> tuple[float, float]:
    ys, xs = torch.meshgrid(torch.arange(img.shape[-2]), torch.arange(img.shape[-1]), indexing="ij")
    w = img[0, 0] / img[0, 0].sum()
    return float((w * xs).sum()), float((w * ys).sum())


@pytest.mark.parametrize("side", [28, 56])
def test_views_are_fixed_shapes_kept_identity_first_and_shifts_scale_with_the_size(side):
    img = _dot(side)
    shown = views(img, "shift")
    assert len(shown) == len(VIEWS["shift"]) and shown[0] is img
    assert all(v.shape == img.shape for v in shown)
    assert all(torch.equal(a, b) for a, b in zip(shown, views(img, "shift"), strict=True))
    x0, y0 = _centre(img)
    x1, y1 = _centre(shown[2])  # +1.5 px of a 28 px image to the right
    assert x1 - x0 == pytest.approx(1.5 * side / 28, abs=0.05) and y1 == pytest.approx(y0)
    with pytest.raises(ValueError, match="unknown test-time augmentation"):
        views(img, "flip")


def test_a_prototype_averages_the_views_and_queries_average_their_probabilities():
    torch.manual_seed(0)
    learner = build_learner("protonet", {}).eval()
    support, labels = torch.rand(6, 1, 28, 28), torch.arange(3).repeat_interleave(2)
    big, big_labels = augmented_support(support, labels, "affine")
    assert len(big) == 6 * len(VIEWS["affine"]) and torch.equal(big_labels[:6], labels)
    clf = final_step(learner.adapt(big, big_labels, steps=0)).classifier
    with torch.no_grad():
        by_view = torch.stack([learner.embed(v) for v in views(support, "affine")])
        expected = prototypes(by_view.mean(0), labels, 3)
    assert torch.allclose(clf.weight / 2, expected, atol=1e-5)
    query = torch.rand(4, 1, 28, 28)
    probs = averaged_probs(clf, query, "affine")
    assert probs.shape == (4, 3) and torch.allclose(probs.sum(1), torch.ones(4))
    assert torch.allclose(averaged_probs(clf, query, "none"), torch.softmax(clf.logits(query), 1))


def test_evaluate_with_tta_reports_it(tiny_root, tmp_path, capsys):
    from test_cli import TINY_TRAIN

    from core import train

    out = tmp_path / "run"
    args = ["--episodes", "2", "--data-root", str(tiny_root), "--out", str(out), *TINY_TRAIN]
    assert train.main(args) == 0
    capsys.readouterr()
    args = ["--checkpoint", str(out / "best.pt"), "--ways", "3", "--episodes", "3"]
    args += ["--queries", "2", "--data-root", str(tiny_root), "--json"]
    assert evaluate.main([*args, "--tta", "shift"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["tta"] == "shift" and 0 <= doc["accuracy"] <= 1
    with pytest.raises(SystemExit) as exc:
        evaluate.main([*args, "--tta", "mirror"])
    assert exc.value.code == 2


@pytest.fixture(scope="module")
def two_runs(tiny_root, tmp_path_factory):
    """A 28 px and a 56 px checkpoint trained on the same tiny classes."""
    from test_cli import TINY_TRAIN

    from core import train

    out = tmp_path_factory.mktemp("runs")
    for size in (28, 56):
        args = ["--episodes", "2", "--data-root", str(tiny_root), "--out", str(out / str(size))]
        assert train.main([*args, *TINY_TRAIN, "--input-size", str(size)]) == 0
    return out / "28" / "best.pt", out / "56" / "best.pt"


def test_an_ensemble_of_one_model_twice_answers_as_the_model(two_runs, tiny_root, capsys):
    small, _ = two_runs
    args = ["--checkpoint", str(small), "--ways", "3", "--episodes", "6", "--queries", "3"]
    args += ["--data-root", str(tiny_root), "--json"]
    assert evaluate.main(args) == 0
    alone = json.loads(capsys.readouterr().out)
    assert evaluate.main([*args, "--ensemble", str(small)]) == 0
    twice = json.loads(capsys.readouterr().out)
    assert twice["ensemble"] == [str(small)] and twice["accuracy"] == alone["accuracy"]


def test_members_of_other_input_sizes_see_the_same_episodes(two_runs, tiny_root, capsys):
    small, large = two_runs
    learners, banks = [], []
    from core.checkpoint import load_checkpoint
    from core.data import load_dataset

    for path in (small, large):
        ckpt = load_checkpoint(path)
        learners.append(ckpt.learner)
        banks.append(load_dataset("omniglot", tiny_root, "test", ckpt.preprocess, "vinyals"))
    spec = evaluate.EpisodeSpec(3, 1, 2)
    mixed = list(evaluate.evaluate_iter(learners[0], banks[0], spec, 4, 7, tta="shift",
                                        members=[(learners[1], banks[1])]))  # fmt: skip
    assert len(mixed) == 4
    args = ["--checkpoint", str(small), "--ensemble", str(large), "--ways", "3", "--episodes"]
    args += ["3", "--data-root", str(tiny_root)]
    assert evaluate.main(args) == 0
    assert "ensemble of 2 checkpoints" in capsys.readouterr().out


def test_a_bad_ensemble_member_is_one_line_and_exit_2(two_runs, tiny_root, tmp_path, capsys):
    small, _ = two_runs
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    for member in (junk, tmp_path / "missing.pt"):
        args = ["--checkpoint", str(small), "--ensemble", str(member), "--episodes", "2"]
        assert evaluate.main([*args, "--data-root", str(tiny_root)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: --ensemble:") and len(err.splitlines()) == 1


@pytest.mark.parametrize("name", ["maml", "fomaml", "anil", "metasgd", "reptile", "metalstm"])
def test_transductive_logits_normalise_the_queries_with_their_own_statistics(name):
    learner = build_learner(name, {}).eval()
    assert learner.capabilities.transductive
    ep = toy_episode(torch.Generator().manual_seed(3), n_way=4, shots=2, queries=3, size=28)
    clf = final_step(learner.adapt(ep.support, ep.support_labels, steps=3)).classifier
    query = ep.query
    # reference: a classifier whose "support" is the query batch itself normalises the queries
    # with exactly their own statistics
    own = FastClassifier(clf.params, query, clf.features).logits(query)
    assert torch.allclose(clf.logits(query, transductive=True), own, atol=1e-5)
    assert not torch.allclose(clf.logits(query, transductive=True), clf.logits(query), atol=1e-3)
    # each answer now depends on the other queries; by default it does not
    alone = clf.logits(query[:2], transductive=True)[0]
    assert not torch.allclose(alone, clf.logits(query, transductive=True)[0], atol=1e-4)
    assert torch.allclose(clf.logits(query[:2])[0], clf.logits(query)[0], atol=1e-5)


def test_relation_transductive_logits_are_the_papers_training_mode_forward():
    """The Relation Networks paper's code scores test episodes in training mode: support set,
    query batch and (query, class) pairs each normalised with their own batch statistics."""
    import copy

    from core.algorithms.relation import class_maps

    learner = build_learner("relation", {}).eval()
    assert learner.capabilities.transductive
    ep = toy_episode(torch.Generator().manual_seed(4), n_way=4, shots=2, queries=3, size=28)
    clf = final_step(learner.adapt(ep.support, ep.support_labels)).classifier
    before = {k: v.clone() for k, v in learner.state_dict().items()}
    paper = copy.deepcopy(learner).train()  # its running statistics may move: it is a copy
    with torch.no_grad():
        classes = class_maps(paper.maps(ep.support), ep.support_labels, 4)
        reference = paper.relation(paper.maps(ep.query), classes)
    answer = clf.logits(ep.query, transductive=True)
    assert torch.allclose(answer, reference, atol=1e-5)
    assert not torch.allclose(answer, clf.logits(ep.query), atol=1e-3)
    for k, v in learner.state_dict().items():  # running statistics untouched, eval mode kept
        assert torch.equal(v, before[k]), k
    assert not any(m.training for m in learner.modules())
    alone = clf.logits(ep.query[:2], transductive=True)[0]
    assert not torch.allclose(alone, answer[0], atol=1e-4)


def test_transductive_evaluation_refuses_learners_with_running_statistics(tiny_root):
    from core.data.splits import load_split

    learner = build_learner("protonet", {})
    assert not learner.capabilities.transductive
    bank = load_split(tiny_root, "vinyals", "test", 28)
    spec = evaluate.EpisodeSpec(3, 1, 2)
    with pytest.raises(ValueError, match="not to protonet"):
        next(evaluate.evaluate_iter(learner, bank, spec, 2, 7, transductive=True))
    maml = build_learner("maml", {"inner_steps": 1, "adapt_steps": 1})
    with pytest.raises(ValueError, match="drop --tta"):
        next(evaluate.evaluate_iter(maml, bank, spec, 2, 7, tta="shift", transductive=True))
    plain = list(evaluate.evaluate_iter(maml, bank, spec, 3, 7))
    both = list(evaluate.evaluate_iter(maml, bank, spec, 3, 7, transductive=True))
    assert len(plain) == len(both) == 3


def test_evaluate_transductive_cli(two_runs, tiny_root, tmp_path, capsys):
    from test_cli import TINY_TRAIN

    from core import train

    out = tmp_path / "maml"
    args = ["--algorithm", "maml", "--inner-steps", "1", "--adapt-steps", "1", "--episodes", "2"]
    assert train.main([*args, "--data-root", str(tiny_root), "--out", str(out), *TINY_TRAIN]) == 0
    capsys.readouterr()
    common = ["--ways", "3", "--episodes", "3", "--queries", "2", "--data-root", str(tiny_root)]
    assert evaluate.main(["--checkpoint", str(out / "best.pt"), *common, "--transductive"]) == 0
    assert ", transductive:" in capsys.readouterr().out
    ok = ["--checkpoint", str(out / "best.pt"), *common, "--json", "--transductive"]
    assert evaluate.main(ok) == 0
    assert json.loads(capsys.readouterr().out)["transductive"] is True
    small, _ = two_runs  # a ProtoNet: BatchNorm with running statistics
    for bad in (
        ["--checkpoint", str(small), *common, "--transductive"],
        ["--checkpoint", str(out / "best.pt"), *common, "--transductive", "--tta", "shift"],
        ["--checkpoint", str(out / "best.pt"), *common, "--transductive", "--protocol", "sequence"],
    ):
        assert evaluate.main(bad) == 2
        err = capsys.readouterr().err.strip()
        assert "--transductive" in err and len(err.splitlines()) == 1
