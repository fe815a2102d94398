"""Matching Networks, Relation Networks and the embedding map: maths on toy inputs, the learner
protocol, and short trainings that must beat chance."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from torch import nn

from core.algorithms import ALGORITHMS, build_learner, final_step
from core.algorithms.matching import (
    MatchingConfig,
    MatchingNetwork,
    cosine_attention,
    matching_log_probs,
)
from core.algorithms.relation import (
    RelationConfig,
    RelationNetwork,
    class_maps,
    feature_side,
    relation_loss,
)
from core.checkpoint import load_checkpoint, save_checkpoint
from core.data.episodes import EpisodeSpec, sample_episode
from core.data.splits import load_split
from core.embedding_map import embedding_map
from core.evaluate import evaluate_iter, summarize

METRIC = ("matching", "relation")


def images(n: int, seed: int) -> torch.Tensor:
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


def labels_for(counts: list[int]) -> torch.Tensor:
    return torch.cat([torch.full((k,), c) for c, k in enumerate(counts)])


# --- Matching Networks: known answers -------------------------------------------------------

SUPPORT_2D = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
QUERY_2D = torch.tensor([[1.0, 0.0], [0.0, 2.0]])


def test_cosine_attention_on_hand_built_support():
    r = 1 / math.sqrt(2)
    # query [1, 0]: cosines (1, 0, r); query [0, 2]: cosines (0, 1, r)
    e1, e0, er = math.e, 1.0, math.exp(r)
    expected = torch.tensor(
        [[e1, e0, er], [e0, e1, er]],
    ) / (e1 + e0 + er)
    assert torch.allclose(cosine_attention(QUERY_2D, SUPPORT_2D), expected, atol=1e-6)
    sharp = cosine_attention(QUERY_2D, SUPPORT_2D, scale=10.0)
    z = math.exp(10) + 1 + math.exp(10 * r)
    assert sharp[0].tolist() == pytest.approx([math.exp(10) / z, 1 / z, math.exp(10 * r) / z])


def test_matching_probs_sum_attention_per_class():
    labels = torch.tensor([0, 1, 0])
    attention = cosine_attention(QUERY_2D, SUPPORT_2D, scale=3.0)
    probs = matching_log_probs(QUERY_2D, SUPPORT_2D, labels, 2, scale=3.0).exp()
    expected = torch.stack([attention[:, 0] + attention[:, 2], attention[:, 1]], dim=1)
    assert torch.allclose(probs, expected, atol=1e-6)
    assert torch.allclose(probs.sum(1), torch.ones(2))


def test_matching_log_probs_stay_finite_for_sharp_attention():
    log_probs = matching_log_probs(QUERY_2D, SUPPORT_2D, torch.tensor([0, 1, 0]), 2, scale=1e4)
    assert torch.isfinite(log_probs).all()
    assert log_probs.argmax(1).tolist() == [0, 1]


def test_matching_adapt_uses_attention_over_support_embeddings():
    """With the backbone replaced by 'flatten', the embeddings are the hand-built 2-D vectors."""
    learner = MatchingNetwork(MatchingConfig(scale=2.0))
    learner.backbone = nn.Flatten()
    support = SUPPORT_2D.view(3, 1, 1, 2)
    labels = torch.tensor([0, 1, 1])
    step = final_step(learner.adapt(support, labels, QUERY_2D.view(2, 1, 1, 2)))
    attention = cosine_attention(QUERY_2D, SUPPORT_2D, scale=2.0)
    expected = torch.stack([attention[:, 0], attention[:, 1] + attention[:, 2]], dim=1)
    assert (step.step, step.total_steps) == (0, 0)
    assert torch.allclose(step.query_probs, expected, atol=1e-6)
    assert torch.allclose(step.classifier.logits(QUERY_2D.view(2, 1, 1, 2)).exp(), expected)
    support_probs = matching_log_probs(SUPPORT_2D, SUPPORT_2D, labels, 2, 2.0).exp()
    nll = -support_probs[torch.arange(3), labels].log().mean()
    assert step.loss == pytest.approx(float(nll), rel=1e-5)


def test_fce_modules_are_used_and_trained():
    learner = MatchingNetwork(MatchingConfig(fce=True, fce_steps=2))
    plain = MatchingNetwork(MatchingConfig())
    plain.backbone.load_state_dict(learner.backbone.state_dict())
    ep = sample_episode_from_noise(3, 2, 2)
    learner.train(), plain.train()
    assert not torch.allclose(learner.episode_logits(ep), plain.episode_logits(ep))
    learner.meta_loss([ep]).loss.backward()
    for module in (learner.support_context, learner.query_attention):
        grads = [p.grad for p in module.parameters()]
        assert all(g is not None and g.abs().sum() > 0 for g in grads)


def sample_episode_from_noise(n_way: int, shots: int, queries: int):
    from core.data.episodes import Episode

    return Episode(
        support=images(n_way * shots, 1),
        support_labels=torch.arange(n_way).repeat_interleave(shots),
        query=images(n_way * queries, 2),
        query_labels=torch.arange(n_way).repeat_interleave(queries),
        class_names=tuple(f"c{i}" for i in range(n_way)),
    )


def test_fce_flag_accepts_command_line_strings_and_refuses_junk():
    assert MatchingConfig(fce="true").fce is True
    assert MatchingConfig(fce="0").fce is False
    with pytest.raises(ValueError, match="fce must be true or false"):
        MatchingConfig(fce="maybe")
    with pytest.raises(ValueError, match="scale"):
        MatchingConfig(scale=0.0)


# --- Relation Networks: shapes, decomposition, permutations ---------------------------------


def relation_learner(**config) -> RelationNetwork:
    torch.manual_seed(0)
    learner = RelationNetwork(RelationConfig(**config))
    # non-trivial BatchNorm statistics, so eval mode is not the identity
    for m in learner.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return learner.eval()


def test_relation_feature_map_and_score_shapes():
    learner = relation_learner()
    maps = learner.embedding(images(4, 0))
    assert feature_side(28) == 5
    assert maps.shape == (4, 64, 5, 5)
    classes = learner.relation(maps, maps[:3])
    assert classes.shape == (4, 3)


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_relation_decomposed_first_conv_equals_concatenation(mode):
    learner = relation_learner()
    getattr(learner, mode)()
    query = learner.embedding(images(6, 0))
    classes = learner.embedding(images(4, 1))
    fast = learner.relation(query, classes)
    slow = learner.relation.forward_concat(query, classes)
    assert torch.allclose(fast, slow, atol=1e-5)


def test_relation_scores_follow_class_and_query_permutations():
    learner = relation_learner()
    counts = [2, 1, 3]
    support, labels, query = images(6, 0), labels_for(counts), images(5, 1)
    base = final_step(learner.adapt(support, labels, query)).query_probs
    # relabel the classes: columns permute the same way
    perm = torch.tensor([2, 0, 1])  # old class c becomes new class perm[c]
    relabelled = final_step(learner.adapt(support, perm[labels], query)).query_probs
    assert torch.allclose(relabelled[:, perm], base, atol=1e-6)
    # shuffle the support order (labels follow): nothing changes
    order = torch.tensor([5, 2, 0, 4, 1, 3])
    shuffled = final_step(learner.adapt(support[order], labels[order], query)).query_probs
    assert torch.allclose(shuffled, base, atol=1e-6)
    # shuffle the queries: rows permute
    qorder = torch.tensor([4, 3, 0, 2, 1])
    rows = final_step(learner.adapt(support, labels, query[qorder])).query_probs
    assert torch.allclose(rows, base[qorder], atol=1e-6)


def test_relation_probabilities_are_normalised_relation_odds():
    learner = relation_learner()
    support, labels, query = images(4, 0), labels_for([2, 2]), images(3, 1)
    step = final_step(learner.adapt(support, labels, query))
    scores = step.classifier.scores(query)
    assert ((scores >= 0) & (scores <= 1)).all()
    odds = scores / (1 - scores)
    assert torch.allclose(step.query_probs, odds / odds.sum(1, keepdim=True), atol=1e-5)


def test_class_maps_mean_and_sum_with_unequal_shots():
    maps = torch.arange(3 * 2 * 1 * 1, dtype=torch.float32).view(3, 2, 1, 1)
    labels = torch.tensor([0, 1, 0])
    mean = class_maps(maps, labels, 2, "mean")
    assert mean.shape == (2, 2, 1, 1)
    assert mean.flatten(1).tolist() == [[2.0, 3.0], [2.0, 3.0]]
    assert class_maps(maps, labels, 2, "sum").flatten(1).tolist() == [[4.0, 6.0], [2.0, 3.0]]


def test_relation_losses_have_known_values():
    logits = torch.zeros(2, 4)  # every score 0.5
    labels = torch.tensor([1, 3])
    assert float(relation_loss(logits, labels, "mse")) == pytest.approx(0.25)
    assert float(relation_loss(logits, labels, "ce")) == pytest.approx(math.log(4))


def test_relation_config_refuses_unknown_choices():
    with pytest.raises(ValueError, match="loss must be one of"):
        RelationConfig(loss="hinge")
    with pytest.raises(ValueError, match="class_pooling"):
        RelationConfig(class_pooling="max")
    with pytest.raises(ValueError, match="too small"):
        RelationConfig(input_size=16)


# --- The learner protocol, for both ---------------------------------------------------------


@pytest.mark.parametrize("name", METRIC)
def test_configs_are_frozen_documented_and_registered(name):
    cls, config_cls = ALGORITHMS[name]
    cfg = config_cls()
    assert (cfg.input_size, cfg.hidden) == (28, 64)
    assert all(f.metadata.get("help") for f in dataclasses.fields(config_cls))
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.hidden = 32
    assert isinstance(build_learner(name, {}), cls)


LEARNER_CONFIGS = [
    ("matching", {}),
    ("matching", {"fce": True, "fce_steps": 2}),
    ("relation", {}),
    ("relation", {"loss": "ce", "class_pooling": "sum"}),
]


@pytest.mark.parametrize(("name", "config"), LEARNER_CONFIGS)
@pytest.mark.parametrize("counts", [[1, 1], [3, 1, 2], [1] * 10, [10, 1]])
def test_adapt_any_ways_and_shots_without_touching_weights(name, config, counts):
    torch.manual_seed(0)
    learner = build_learner(name, config)
    learner.train()
    before = {k: v.clone() for k, v in learner.state_dict().items()}
    support, labels = images(sum(counts), 0), labels_for(counts)
    steps = list(learner.adapt(support, labels, images(4, 1)))
    assert len(steps) == 1
    step = steps[0]
    assert (step.step, step.total_steps) == (0, 0)
    assert math.isfinite(step.loss) and 0 <= step.support_accuracy <= 1
    assert step.query_probs.shape == (4, len(counts))
    assert torch.allclose(step.query_probs.sum(1), torch.ones(4), atol=1e-5)
    assert step.classifier.n_way == len(counts)
    assert not step.classifier.logits(images(2, 2)).requires_grad
    assert step.classifier.logits(images(2, 2)).shape == (2, len(counts))
    assert final_step(learner.adapt(support, labels)).query_probs is None
    after = learner.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize("name", METRIC)
def test_adapt_refuses_bad_support_and_fine_tuning_steps(name):
    learner = build_learner(name, {})
    with pytest.raises(ValueError, match="at least two classes"):
        next(learner.adapt(images(2, 0), torch.tensor([0, 0])))
    with pytest.raises(ValueError, match="class"):
        next(learner.adapt(images(2, 0), torch.tensor([0, 2])))
    with pytest.raises(ValueError, match="no fine-tuning steps"):
        next(learner.adapt(images(2, 0), torch.tensor([0, 1]), steps=3))
    assert final_step(learner.adapt(images(2, 0), torch.tensor([0, 1]), steps=0)).step == 0


@pytest.mark.parametrize(("name", "config"), LEARNER_CONFIGS)
def test_checkpoint_round_trip_gives_the_same_predictions(tmp_path, name, config):
    torch.manual_seed(0)
    learner = build_learner(name, config).eval()
    save_checkpoint(tmp_path / "c.pt", learner, {"preprocess_version": 1, "input_size": 28})
    loaded = load_checkpoint(tmp_path / "c.pt").learner
    assert loaded.config == learner.config
    support, labels, query = images(4, 0), labels_for([2, 2]), images(3, 1)
    a = final_step(learner.adapt(support, labels, query)).query_probs
    b = final_step(loaded.adapt(support, labels, query)).query_probs
    assert torch.allclose(a, b)


# --- Short trainings --------------------------------------------------------------------------


def train_and_score(name, config, train_bank, test_bank, spec, steps) -> tuple[float, float]:
    """Query accuracy on 40 fixed test episodes before and after ``steps`` meta-updates."""
    torch.manual_seed(0)
    learner = build_learner(name, config)
    optimizer = torch.optim.Adam(learner.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)

    def score() -> float:
        return summarize([r.accuracy for r in evaluate_iter(learner, test_bank, spec, 40, 1)]).mean

    before = score()
    for _ in range(steps):
        learner.train()
        learner.meta_step([sample_episode(train_bank, spec, generator)], optimizer)
    return before, score()


@pytest.mark.parametrize(("name", "config"), [("relation", {}), ("matching", {"fce": True})])
def test_short_training_on_tiny_omniglot_beats_chance(tiny_root, name, config):
    spec = EpisodeSpec(5, 1, 5)
    train = load_split(tiny_root, "vinyals", "train")
    test = load_split(tiny_root, "vinyals", "test")
    before, after = train_and_score(name, config, train, test, spec, 30)
    assert before < 0.4  # untrained: near chance (0.2)
    assert after > 0.7


@pytest.mark.data
@pytest.mark.parametrize(
    ("name", "config"), [("matching", {}), ("matching", {"fce": True}), ("relation", {})]
)
def test_short_training_on_omniglot_improves_clearly(omniglot_root, name, config):
    spec = EpisodeSpec(5, 1, 5)
    train = load_split(omniglot_root, "vinyals", "train")
    val = load_split(omniglot_root, "vinyals", "val")
    before, after = train_and_score(name, config, train, val, spec, 60)
    # untrained Matching without FCE is a cosine nearest-neighbour on random features (~0.75)
    assert after > 0.75
    assert after > before + 0.05


@pytest.mark.parametrize(("name", "config"), [("relation", {}), ("matching", {"fce": True})])
def test_train_cli_writes_a_loadable_checkpoint(tiny_root, tmp_path, name, config):
    from core.train import main

    flags = [f"--{k.replace('_', '-')}" for k, v in config.items() if v is True]
    out = tmp_path / name
    small = "--ways 5 --shots 1 --queries 3 --episodes 4 --val-every 2 --val-episodes 3"
    paths = ["--data-root", str(tiny_root), "--out", str(out)]
    code = main(["--algorithm", name, *flags, *small.split(), "--val-ways", "5", *paths])
    assert code == 0
    learner = load_checkpoint(out / "best.pt").learner
    assert learner.name == name
    if name == "matching":
        assert learner.config.fce is True


# --- Embedding map ----------------------------------------------------------------------------


class _Identity(nn.Module):
    """A stand-in 'learner' whose embedding is the flattened image (for known PCA answers)."""

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)


def test_embedding_map_is_pca_of_the_support():
    # 3-D points spread mainly along x, then y, with no z; PCA recovers x and y up to sign.
    support = torch.tensor(
        [[4.0, 0.0, 0.0], [-4.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, -1.0, 0.0]]
    ).view(4, 1, 1, 3)
    labels = torch.tensor([0, 1, 0, 1])
    query = torch.tensor([[2.0, 0.5, 7.0]]).view(1, 1, 1, 3)
    m = embedding_map(_Identity(), support, labels, query)
    assert torch.allclose(m.support.abs(), torch.tensor([[4.0, 0], [4, 0], [0, 1], [0, 1]]))
    # signs fixed: each axis points towards the support example furthest along it
    assert m.support[0, 0] > 0 and m.support[2, 1] > 0
    assert torch.allclose(m.centres, torch.tensor([[2.0, 0.5], [-2.0, -0.5]]))
    assert torch.allclose(m.query, torch.tensor([[2.0, 0.5]]))  # z is off the map
    assert torch.allclose(m.explained, torch.tensor([32 / 34, 2 / 34]))


def test_embedding_map_is_stable_while_the_query_changes():
    torch.manual_seed(0)
    learner = build_learner("relation", {})
    support, labels = images(5, 0), labels_for([2, 3])
    a = embedding_map(learner, support, labels, images(1, 1))
    b = embedding_map(learner, support, labels, images(2, 2))
    assert torch.equal(a.support, b.support) and torch.equal(a.centres, b.centres)
    assert b.query.shape == (2, 2)


@pytest.mark.parametrize("name", ["protonet", *METRIC])
def test_embedding_map_works_for_every_metric_learner_and_tiny_supports(name):
    learner = build_learner(name, {})
    m = embedding_map(learner, images(2, 0), torch.tensor([0, 1]))
    assert m.support.shape == (2, 2) and m.centres.shape == (2, 2) and m.query is None
    assert torch.isfinite(m.support).all()
    assert torch.all(m.support[:, 1] == 0)  # two points span one axis only


def test_embedding_map_of_identical_examples_is_all_zeros():
    learner = build_learner("matching", {})
    same = images(1, 0).expand(3, 1, 28, 28)
    m = embedding_map(learner, same, torch.tensor([0, 1, 1]), same[:1])
    assert torch.equal(m.support, torch.zeros(3, 2)) and torch.equal(m.query, torch.zeros(1, 2))
