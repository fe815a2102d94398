"""MANN (Santoro et al. 2016): LRU access on a hand-computed toy, sequences that never show a
step its own label, chance at the first presentation, the protocol."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from toys import assert_trains_and_round_trips, toy_episode

from core.algorithms import build_learner, final_step
from core.algorithms.mann import (
    LABEL_SLOTS,
    distort,
    distorted,
    label_sequence,
    own_class_reads,
    presentation_accuracy,
    presentation_index,
    previous_labels,
    slot_owners,
)
from core.algorithms.mann_memory import MemoryState, least_used, lrua_step, read_weights
from core.checkpoint import load_checkpoint
from core.data.episodes import EpisodeSpec, episodes
from core.data.splits import load_split

TINY = {"hidden": 4, "input_size": 16, "controller": 12, "slots": 6, "slot_size": 4, "heads": 2}


def tiny(**config):
    torch.manual_seed(0)
    return build_learner("mann", {**TINY, **config})


def test_lru_write_and_read_on_a_three_slot_toy():
    d = torch.float64
    state = MemoryState(
        memory=torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]], dtype=d),
        usage=torch.tensor([[0.5, 0.1, 0.9]], dtype=d),
        read=torch.tensor([[[0.2, 0.3, 0.5]]], dtype=d),
        vectors=torch.zeros(1, 1, 2, dtype=d),
    )
    key = torch.tensor([[[1.0, 0.0]]], dtype=d)
    new, w_write = lrua_step(
        state, key, torch.tensor([[0.25]], dtype=d), torch.tensor([[2.0]], dtype=d), 0.9
    )
    # least used slot: 1; write = 0.25 * previous read + 0.75 * [0, 1, 0]
    assert w_write[0, 0].tolist() == pytest.approx([0.05, 0.825, 0.125])
    # slot 1 zeroed first, then every slot gets w_write * key
    expected_memory = [[1.05, 0.0], [0.825, 0.0], [1.125, 1.0]]
    assert new.memory[0].tolist() == [pytest.approx(row) for row in expected_memory]
    cos = [1.0, 1.0, 1.125 / math.sqrt(1.125**2 + 1.0)]
    e = [math.exp(2 * c) for c in cos]
    read = [x / sum(e) for x in e]
    assert new.read[0, 0].tolist() == pytest.approx(read)
    usage = [0.9 * u + r + w for u, r, w in zip([0.5, 0.1, 0.9], read, [0.05, 0.825, 0.125])]
    assert new.usage[0].tolist() == pytest.approx(usage)
    vector = [sum(r * m[j] for r, m in zip(read, expected_memory)) for j in range(2)]
    assert new.vectors[0, 0].tolist() == pytest.approx(vector)


def test_the_add_vector_is_written_and_the_key_reads():
    """With ``add``, the memory gets the add vector (not the key) and the key reads from it."""
    d = torch.float64
    state = MemoryState(
        memory=torch.tensor([[[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]]], dtype=d),
        usage=torch.tensor([[0.5, 0.1, 0.9]], dtype=d),
        read=torch.tensor([[[0.0, 0.0, 1.0]]], dtype=d),
        vectors=torch.zeros(1, 1, 2, dtype=d),
    )
    key, add = torch.tensor([[[1.0, 0.0]]], dtype=d), torch.tensor([[[0.0, 1.0]]], dtype=d)
    gate, strength = torch.tensor([[0.0]], dtype=d), torch.tensor([[50.0]], dtype=d)
    own, _ = lrua_step(state, key, gate, strength, 0.9)
    added, _ = lrua_step(state, key, gate, strength, 0.9, add)
    assert added.memory[0, 1].tolist() == [0.0, 1.0]  # least used slot 1 gets the add vector
    assert own.memory[0, 1].tolist() == [1.0, 0.0]  # ... or the key itself
    # reading with the key: written with the key, slot 1 matches as well as the old slot 0
    assert own.read[0, 0, 1] == pytest.approx(own.read[0, 0, 0])
    assert added.read[0, 0, 0] > 0.99  # with an add vector, only what was there before


def test_reading_before_the_write_addresses_the_memory_the_step_found():
    """read="before": the weights come from the memory before the step's write, so a key never
    finds the slot its own step has just filled; the read vectors come from the written memory."""
    d = torch.float64
    state = MemoryState(
        memory=torch.tensor([[[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]]], dtype=d),
        usage=torch.tensor([[0.5, 0.1, 0.9]], dtype=d),
        read=torch.tensor([[[0.0, 0.0, 1.0]]], dtype=d),
        vectors=torch.zeros(1, 1, 2, dtype=d),
    )
    key = torch.tensor([[[0.6, 0.8]]], dtype=d)  # written as is (no add vector)
    gate, strength = torch.tensor([[0.0]], dtype=d), torch.tensor([[20.0]], dtype=d)
    after, w_after = lrua_step(state, key, gate, strength, 0.9, read="after")
    before, w_before = lrua_step(state, key, gate, strength, 0.9, read="before")
    assert torch.equal(w_after, w_before) and torch.equal(after.memory, before.memory)
    assert after.memory[0, 1].tolist() == pytest.approx([0.6, 0.8])  # least used slot 1
    assert int(after.read[0, 0].argmax()) == 1  # finds its own write
    expected = read_weights(key, state.memory, strength)
    assert torch.allclose(before.read, expected)
    assert int(before.read[0, 0].argmax()) == 2  # the best match that was there before
    assert torch.allclose(before.vectors, before.read @ before.memory)
    usage = 0.9 * state.usage + expected.sum(1) + w_before.sum(1)
    assert torch.allclose(before.usage, usage)
    with pytest.raises(ValueError, match="read must be"):
        lrua_step(state, key, gate, strength, 0.9, read="during")


def test_pure_least_used_writes_fill_the_memory_in_order_and_reuse_the_oldest_slot():
    """Gate 0 (write only to the least used slot), 1 head, 3 slots: steps 0, 1, 2 fill slots 0,
    1, 2 (each zeroed first); usage decays by gamma, so step 3 reuses slot 0, the oldest."""
    gamma, slots = 0.5, 3
    state = MemoryState.initial(1, 1, slots, 3, torch.zeros(1, dtype=torch.float64))
    gate, strength = torch.zeros(1, 1, dtype=torch.float64), torch.full((1, 1), 30.0)
    written = []
    for t in range(4):
        key = F.one_hot(torch.tensor([[t % 3]]), 3).double()
        old_usage = state.usage.clone()
        state, w_write = lrua_step(state, key, gate, strength.double(), gamma, read="before")
        written.append(int(w_write[0, 0].argmax()))
        assert w_write[0, 0].max() == 1.0 and w_write.sum() == 1.0
        expected = gamma * old_usage + state.read.sum(1) + w_write.sum(1)
        assert torch.allclose(state.usage, expected)
    assert written == [0, 1, 2, 0]
    # slot 0 was zeroed before step 3 wrote key 0 there again: it holds key 0 once, not twice
    assert state.memory[0, 0].tolist() == pytest.approx([1.0, 0.0, 0.0])


def _hand_made_sequence(read: str):
    """Classes A B A B A, 1 head, 8 slots; each image's key is its class's direction plus a
    little of its own (as two drawings of a character differ), written as is into the least
    used slot. Returns read and write weights, usage and classes, each ``(1, T, ...)``."""
    classes = torch.tensor([[0, 1, 0, 1, 0]])
    steps = classes.shape[1]
    state = MemoryState.initial(1, 1, 8, 2 + steps, torch.zeros(1))
    gate, strength = torch.zeros(1, 1), torch.full((1, 1), 50.0)
    reads, writes, usage = [], [], []
    for t, c in enumerate(classes[0]):
        key = F.one_hot(c, 2 + steps) + 0.3 * F.one_hot(torch.tensor(2 + t), 2 + steps)
        key = key.float().view(1, 1, -1)
        state, w_write = lrua_step(state, key, gate, strength, 0.95, read=read)
        reads.append(state.read.sum(1))
        writes.append(w_write.sum(1))
        usage.append(state.usage)
    return torch.stack(reads, 1), torch.stack(writes, 1), torch.stack(usage, 1), classes


def test_a_repeated_class_reads_the_slot_its_class_wrote():
    """The hand-made sequence A B A B A: with read="before" each repeat's read peaks on the slot
    the class's earlier image was written to (slots 0 and 1; the figure is 100 %); with
    read="after" it peaks on the slot its own step has just filled, which holds no label yet."""
    reads, writes, usage, classes = _hand_made_sequence("before")
    assert reads[0].argmax(1).tolist()[2:] == [0, 1, 0]
    hits, counted = own_class_reads(reads, writes, usage, classes)
    assert counted[0].tolist() == [False, False, True, True, True]
    assert hits[0].tolist() == [False, False, True, True, True]
    reads, writes, usage, classes = _hand_made_sequence("after")
    assert reads[0].argmax(1).tolist()[2:] == [2, 3, 4]  # the fresh slot of each step
    hits, counted = own_class_reads(reads, writes, usage, classes)
    assert not hits.any()


def test_slot_owners_follow_the_largest_write_since_the_slot_was_emptied():
    writes = torch.tensor([[[0.9, 0.1], [0.2, 0.8], [0.3, 0.0], [0.6, 0.0]]])
    zeroed = torch.tensor([[0, 1, 1, 0]])
    classes = torch.tensor([[2, 1, 0, 3]])
    owners = slot_owners(writes, zeroed, classes)
    # before step 0 nothing; before step 1 both slots written by step 0 (class 2); step 1
    # empties slot 1 and writes most to it; step 2's write (0.3 < 0.9) leaves slot 0 to class 2;
    # step 2 empties slot 1, so it has no owner (0.0 written) before step 3
    assert owners[0].tolist() == [[-1, -1], [2, 2], [2, 1], [2, -1]]


def test_the_distortions_turn_each_class_as_a_whole_and_are_seeded():
    """Without the small rotation and shift, each class's images are all turned by the same
    multiple of 90 degrees (exact pixel permutations); the same episode gives the same images."""
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(12, 1, 16, 16, generator=gen)
    classes = torch.arange(3).repeat_interleave(4)
    import core.algorithms.mann as mann

    old = mann.DISTORT_DEGREES, mann.DISTORT_SHIFT
    mann.DISTORT_DEGREES, mann.DISTORT_SHIFT = 0.0, 0.0
    try:
        out = distort(images, classes, 3, torch.Generator().manual_seed(1))
    finally:
        mann.DISTORT_DEGREES, mann.DISTORT_SHIFT = old
    for c in range(3):
        turns = [
            k
            for k in range(4)
            if all(
                torch.allclose(out[i], torch.rot90(images[i], k, (1, 2)), atol=1e-5)
                for i in range(4 * c, 4 * c + 4)
            )
        ]
        assert len(turns) == 1, c
    ep = toy_episode(torch.Generator().manual_seed(6), shots=2)
    a, b = distorted(ep), distorted(ep)
    assert torch.equal(a.support, b.support) and torch.equal(a.query, b.query)
    assert not torch.equal(a.support, ep.support)
    assert torch.equal(a.support_labels, ep.support_labels)


def test_distortions_only_in_meta_training():
    """meta_loss distorts (when asked); adaptation and the protocol never do."""
    ep = toy_episode(torch.Generator().manual_seed(7))
    plain, bent = tiny(distortions=False), tiny(distortions=True)
    bent.load_state_dict(plain.state_dict())
    plain.eval(), bent.eval()
    with torch.no_grad():
        assert not torch.allclose(plain.meta_loss([ep]).loss, bent.meta_loss([ep]).loss)
        assert torch.equal(plain.episode_logits([ep])[0], bent.episode_logits([ep])[0])
        a = final_step(plain.adapt(ep.support, ep.support_labels, ep.query)).query_probs
        b = final_step(bent.adapt(ep.support, ep.support_labels, ep.query)).query_probs
    assert torch.equal(a, b)


def test_the_sequence_protocol_reports_the_read_attention(tiny_root, tmp_path, capsys):
    import json

    from core import evaluate
    from core.checkpoint import save_checkpoint

    path = tmp_path / "mann.pt"
    save_checkpoint(path, tiny(input_size=28, read="before"), {})
    args = ["--checkpoint", str(path), "--protocol", "sequence", "--ways", "3", "--episodes", "2"]
    args += ["--data-root", str(tiny_root), "--split", "lake", "--allow-overlap"]
    assert evaluate.main([*args, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["reads"] == 2 * 3 * 9  # every presentation but the first of each class
    assert 0 <= doc["own_class_reads"] <= 1
    assert 1 / doc["slots"] <= doc["read_peak"] <= 1
    assert doc["presentations"] == [1, 2, 3, 5, 10]  # Santoro et al.'s Table 1 columns
    assert len(doc["accuracy"]) == 5 and all(0 <= a <= 1 for a in doc["accuracy"])
    assert evaluate.main(args) == 0
    out = capsys.readouterr().out
    assert "read attention" in out
    for k in (1, 2, 3, 5, 10):
        assert f"{k}: " in out


def test_the_memory_use_benchmark_zeroes_only_the_read_vectors(
    tiny_root, tmp_path, capsys, monkeypatch
):
    """benchmarks/mann_memory_use.py: its ablation zeroes the read vectors and keeps the memory
    and the weights; it prints both runs' rows and refuses a checkpoint of another learner."""
    import sys

    from core.checkpoint import save_checkpoint

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import mann_memory_use as bench

    state = MemoryState.initial(2, 2, 5, 3, torch.zeros(1))
    keys, gate, strength = torch.randn(2, 2, 3), torch.rand(2, 2), torch.ones(2, 2)
    full, w = lrua_step(state, keys, gate, strength, 0.95, read="before")
    cut, w_cut = bench.without_reads(state, keys, gate, strength, 0.95, read="before")
    assert full.vectors.abs().sum() > 0 and not cut.vectors.any()
    assert torch.equal(cut.memory, full.memory) and torch.equal(cut.read, full.read)
    assert torch.equal(w_cut, w)

    path = tmp_path / "mann.pt"
    save_checkpoint(path, tiny(input_size=28, read="before"), {})
    monkeypatch.setenv("METAGUI_DATA", str(tiny_root))
    monkeypatch.setattr(sys, "argv", ["x", "--checkpoint", str(path), "--episodes", "2"])
    bench.main()
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    assert [r.split(" | ")[0] for r in rows[1:]] == ["| as trained", "| zeroed"]
    other = tmp_path / "proto.pt"
    save_checkpoint(other, build_learner("protonet", {"input_size": 28}), {})
    monkeypatch.setattr(sys, "argv", ["x", "--checkpoint", str(other)])
    with pytest.raises(SystemExit, match="not a mann"):
        bench.main()


def test_the_reads_feed_the_next_controller_step_and_the_output():
    """Step t's read vectors enter step t+1's controller and step t's output layer: with the
    controller's view of the features and labels cut, and the output's view of ``h`` cut, the
    logits still move when the read vectors do."""
    learner = tiny(read="before").eval()
    c = learner.config
    d = learner.backbone.out_features
    assert learner.lstm.input_size == d + LABEL_SLOTS + c.heads * c.slot_size
    assert learner.out.in_features == c.controller + c.heads * c.slot_size
    gen = torch.Generator().manual_seed(8)
    feats = torch.randn(1, d, generator=gen)
    prev = torch.zeros(1, LABEL_SLOTS)
    lstm_state, memory = learner.initial(1, feats)
    other = MemoryState(memory.memory, memory.usage, memory.read,
                        torch.randn(memory.vectors.shape, generator=gen))  # fmt: skip
    with torch.no_grad():
        _, (h_a, _), *_ = learner.step(feats, prev, lstm_state, memory)
        _, (h_b, _), *_ = learner.step(feats, prev, lstm_state, other)
    assert not torch.allclose(h_a, h_b)  # the previous reads are a controller input
    with torch.no_grad():  # the output layer sees the step's own reads, not only h
        learner.out.weight[:, : c.controller] = 0
        logits, _, state, _ = learner.step(feats, prev, lstm_state, memory)
        expected = learner.out(torch.cat([torch.zeros_like(h_a), state.vectors.flatten(1)], 1))
    assert torch.allclose(logits, expected)
    assert state.vectors.abs().sum() > 0


def test_the_reproduction_preset_trains_as_the_paper():
    """``--preset mann-lake-v2``: LSTM 200, memory 128 x 40, 4 heads, usage decay 0.95, reads
    before the write, distortions, 16 sequences of 50 steps per update, Adam 1e-3, 20 x 20."""
    from dataclasses import fields

    from core.algorithms.mann import MANNConfig
    from core.training.setup import parse_run_args

    args, _, _ = parse_run_args(["--preset", "mann-lake-v2"])
    given = {f.name: getattr(args, f.name) for f in fields(MANNConfig)}
    c = MANNConfig(**{k: v for k, v in given.items() if v is not None})  # as prepare_run does
    assert (c.controller, c.slots, c.slot_size, c.heads, c.input_size) == (200, 128, 40, 4, 20)
    assert c.gamma == 0.95 and c.read == "before" and c.distortions and c.write == "add"
    assert args.meta_batch == 16 and args.ways * (args.shots + args.queries) == 50
    assert args.optimizer == "adam" and args.lr == 1e-3


def test_least_used_takes_n_slots_and_breaks_ties_by_index():
    assert least_used(torch.tensor([[0.3, 0.1, 0.2]]), 2).tolist() == [[0.0, 1.0, 1.0]]
    assert least_used(torch.zeros(1, 3), 2).tolist() == [[1.0, 1.0, 0.0]]


def test_the_label_offset_sequence_never_shows_a_step_its_own_label():
    gen = torch.Generator().manual_seed(1)
    labels = torch.arange(4).repeat_interleave(5)
    seq = label_sequence(labels, 4, gen)
    assert sorted(seq.order.tolist()) == list(range(20))
    assert len(set(seq.slots.tolist())) == 4 and int(seq.slots.max()) < LABEL_SLOTS
    slot_targets = seq.slots[seq.targets].unsqueeze(0)
    prev = previous_labels(slot_targets)[0]
    assert prev[0].sum() == 0
    assert torch.equal(prev[1:].argmax(1), slot_targets[0, :-1])
    assert bool((prev.sum(1)[1:] == 1).all())


def test_a_step_cannot_see_its_own_or_later_labels():
    learner = tiny().eval()
    gen = torch.Generator().manual_seed(2)
    feats = torch.randn(1, 8, learner.backbone.out_features, generator=gen)
    slots = torch.randint(LABEL_SLOTS, (1, 8), generator=gen)
    with torch.no_grad():
        base, *_ = learner.run_sequence(feats, slots)
        for t in (0, 3, 7):
            other = slots.clone()
            other[0, t:] = (other[0, t:] + 1) % LABEL_SLOTS
            moved, *_ = learner.run_sequence(feats, other)
            assert torch.equal(moved[:, : t + 1], base[:, : t + 1]), t
            if t < 7:
                assert not torch.allclose(moved[:, t + 1], base[:, t + 1])


def test_presentation_index_counts_each_class():
    targets = torch.tensor([[2, 0, 2, 2, 1, 0]])
    assert presentation_index(targets).tolist() == [[1, 1, 2, 3, 1, 2]]


def test_first_presentation_is_at_chance_for_an_untrained_model():
    learner = tiny()
    gen = torch.Generator().manual_seed(3)
    eps = [toy_episode(gen, n_way=3, shots=1, queries=2) for _ in range(60)]
    result = presentation_accuracy(learner, eps, (1, 2, 3))
    assert result.counts == (180, 180, 180)
    first = result.accuracy[0]
    sigma = math.sqrt(1 / 3 * 2 / 3 / 180)
    assert abs(first - 1 / 3) < 4 * sigma


def test_the_read_peak_measures_how_sharply_the_heads_read():
    """``read_peak`` lies between uniform reads (1 / slots) and one slot per head (1), and
    rises when the key strength does."""
    gen = torch.Generator().manual_seed(5)
    eps = [toy_episode(gen, n_way=3, shots=1, queries=3) for _ in range(4)]
    peaks = []
    for bias in (-30.0, 30.0):  # key strength 1 + softplus(bias): about 1, then about 31
        learner = tiny(read="before")
        with torch.no_grad():
            learner.strength.weight.zero_()
            learner.strength.bias.fill_(bias)
        result = presentation_accuracy(learner, eps, (1, 2))
        assert result.reads == 4 * 3 * 3
        assert 1 / learner.config.slots <= result.read_peak <= 1
        peaks.append(result.read_peak)
    assert peaks[1] > 2 * peaks[0]


def test_adapt_feeds_the_support_and_exposes_the_memory():
    learner = tiny()
    ep = toy_episode(torch.Generator().manual_seed(4), shots=2)
    steps = list(learner.feed(ep.support, ep.support_labels))
    assert len(steps) == len(ep.support)
    assert sorted(s.index for s in steps) == list(range(len(ep.support)))
    for s in steps:
        assert s.read_weights.shape == s.write_weights.shape == (2, 6)
        assert torch.allclose(s.read_weights.sum(1), torch.ones(2))
        assert s.probs.shape == (3,)
    last = final_step(learner.adapt(ep.support, ep.support_labels, ep.query))
    assert len(last.classifier.trace) == len(ep.support)
    assert torch.equal(last.classifier.trace[-1].read_weights, steps[-1].read_weights)
    together = last.classifier.logits(ep.query)
    alone = torch.cat([last.classifier.logits(q.unsqueeze(0)) for q in ep.query])
    assert torch.allclose(together, alone, atol=1e-6)
    assert torch.allclose(torch.softmax(together, 1), last.query_probs)


def test_meta_training_lowers_the_loss_and_the_checkpoint_round_trips(tmp_path):
    gen = torch.Generator().manual_seed(5)
    assert_trains_and_round_trips(tiny(), [toy_episode(gen) for _ in range(2)], tmp_path)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"slots": 0}, "at least 1"),
        ({"heads": 9, "slots": 8}, "at most"),
        ({"gamma": 2.0}, "between"),
        ({"write": "erase"}, "add or key"),
        ({"read": "during"}, "before or after"),
    ],
)
def test_bad_configs_are_refused_in_one_line(bad, message):
    with pytest.raises(ValueError, match=message):
        build_learner("mann", bad)


TRAINED = Path(__file__).resolve().parents[1] / "assets" / "resumable" / "mann-lake" / "last.pt"


@pytest.mark.skipif(not TRAINED.is_file(), reason="no trained MANN state in assets/resumable")
def test_a_trained_mann_cannot_know_the_label_of_a_class_it_has_not_seen(omniglot_root):
    """Real lake test sequences, the committed trained state: at its first presentation a
    class's label is unknowable, so the best a model can do is guess among the slots not yet
    used (1/(N-k+1) for the k-th new class; 1/N for the first). More would mean it cheats."""
    learner = load_checkpoint(TRAINED).learner.eval()
    bank = load_split(omniglot_root, "lake", "test")
    n_way, count = 5, 60
    eps = list(episodes(bank, EpisodeSpec(n_way, 1, 9), count, seed=11))
    hits, seen = torch.zeros(n_way), torch.zeros(n_way)
    with torch.no_grad():
        for ep in eps:
            logits, targets = learner.episode_logits([ep])
            first = presentation_index(targets)[0] == 1
            order = torch.cumsum(first.long(), 0) - 1  # k-1 for the k-th new class
            right = (logits.argmax(2)[0] == targets[0])[first]
            hits.index_add_(0, order[first], right.float())
            seen.index_add_(0, order[first], torch.ones(int(first.sum())))
    assert seen.tolist() == [count] * n_way
    best = 1 / torch.arange(n_way, 0, -1).float()  # 1/5, 1/4, ... 1: guessing an unused slot
    sigma = (best * (1 - best) / count).sqrt()
    assert (hits / seen <= best + 4 * sigma + 1e-6).all(), (hits / seen).tolist()
    overall = sum(hits) / sum(seen)
    assert overall <= float(best.mean()) + 4 * math.sqrt(0.25 / (n_way * count))
