"""``core.train --keep-every`` snapshots and ``core.average``: the mean of a run's weights."""

from __future__ import annotations

import pytest
import torch
from test_cli import TINY_TRAIN

from core import average, train
from core.algorithms import build_learner
from core.checkpoint import load_checkpoint, save_checkpoint


def _run(tiny_root, out, algorithm="protonet", *extra):
    args = ["--algorithm", algorithm, "--data-root", str(tiny_root), "--out", str(out)]
    return train.main([*args, *TINY_TRAIN, "--episodes", "6", "--keep-every", "2", *extra])


def test_keep_every_keeps_the_weights_of_those_steps(tiny_root, tmp_path):
    out = tmp_path / "run"
    assert _run(tiny_root, out) == 0
    assert sorted(p.name for p in out.glob("step-*.pt")) == ["step-2.pt", "step-4.pt", "step-6.pt"]
    kept = load_checkpoint(out / "step-6.pt")
    assert kept.training_state is None and kept.metadata["step"] == 6
    last = load_checkpoint(out / "last.pt").learner.state_dict()
    for k, v in kept.learner.state_dict().items():
        assert torch.equal(v, last[k]), k
    early = load_checkpoint(out / "step-2.pt").learner.state_dict()
    assert any(not torch.equal(v, last[k]) for k, v in early.items())


def test_keep_every_must_be_a_multiple_of_val_every(tiny_root, tmp_path, capsys):
    assert _run(tiny_root, tmp_path / "run", "protonet", "--keep-every", "3") == 2
    assert "--keep-every must be 0 or a multiple of --val-every" in capsys.readouterr().err


def test_the_average_is_the_mean_of_the_weights(tmp_path):
    paths, states = [], []
    for seed in range(3):
        torch.manual_seed(seed)
        learner = build_learner("maml", {})  # no running statistics: nothing is re-measured
        paths.append(tmp_path / f"s{seed}.pt")
        save_checkpoint(paths[-1], learner, {"step": seed})
        states.append(learner.state_dict())
    out = tmp_path / "mean.pt"
    given = [str(p) for p in (paths[2], paths[0], paths[1])]  # any order: sorted by step
    assert average.main([*given, "--out", str(out), "--threads", "1"]) == 0
    mean = load_checkpoint(out)
    for k, v in mean.learner.state_dict().items():
        expected = sum(s[k] for s in states) / 3
        torch.testing.assert_close(v, expected, rtol=1e-6, atol=1e-6)
    assert [m["step"] for m in mean.metadata["averaged_from"]] == [0, 1, 2]
    assert mean.metadata["step"] == 2


@pytest.mark.parametrize("algorithm", ["protonet", "relation", "metanet"])
def test_batch_norm_statistics_are_measured_for_the_mean_weights(tiny_root, tmp_path, algorithm):
    out = tmp_path / "run"
    assert _run(tiny_root, out, algorithm) == 0
    snaps = [str(out / f"step-{s}.pt") for s in (2, 4, 6)]
    mean = tmp_path / "mean.pt"
    args = [*snaps, "--out", str(mean), "--data-root", str(tiny_root), "--threads", "1"]
    assert average.main([*args, "--bn-episodes", "3"]) == 0
    plain = tmp_path / "plain.pt"
    flags = ["--bn-episodes", "0", "--no-validate", "--threads", "1"]
    assert average.main([*snaps, "--out", str(plain), *flags]) == 0
    assert "metrics" not in load_checkpoint(plain).metadata
    measured, averaged = (load_checkpoint(p).learner.state_dict() for p in (mean, plain))
    stats = [k for k in measured if k.endswith("running_mean")]
    assert stats and any(not torch.equal(measured[k], averaged[k]) for k in stats)
    weights = [k for k in measured if k.endswith("weight")]
    assert all(torch.equal(measured[k], averaged[k]) for k in weights)  # only statistics change
    meta = load_checkpoint(mean).metadata
    assert meta["bn_episodes"] == 3 and meta["step"] == 6
    assert meta["average_command"].startswith("python -m core.average ")
    assert 0 <= meta["metrics"]["val_accuracy"] <= 1  # the run's own validation, of the mean
    assert meta["metrics"]["val_task"] == "5-way 1-shot"


def test_refuses_mixed_learners_one_file_and_overwriting_an_input(tmp_path, capsys):
    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    save_checkpoint(a, build_learner("protonet", {}), {})
    save_checkpoint(b, build_learner("protonet", {"hidden": 32}), {})
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    odd = torch.load(a, weights_only=True)
    odd["state_dict"]["encoder.0.0.weight"] = 3
    torch.save(odd, tmp_path / "odd.pt")
    cases = [
        ([str(a)], "at least two checkpoints"),
        ([str(a), str(b)], "different model settings"),
        ([str(a), str(tmp_path / "junk.pt")], "not a readable checkpoint"),
        ([str(a), str(tmp_path / "odd.pt")], "weights are not all tensors"),
        ([str(a), str(a), "--bn-episodes", "-1"], "--bn-episodes must not be negative"),
    ]
    for files, message in cases:
        assert average.main([*files, "--out", str(tmp_path / "o.pt")]) == 2
        assert message in capsys.readouterr().err
    assert average.main([str(a), str(a), "--out", str(tmp_path / "o.pt"), "--validate"]) == 2
    assert "records no training settings" in capsys.readouterr().err
    assert average.main([str(a), str(a), "--out", str(a)]) == 2
    assert "is one of the inputs" in capsys.readouterr().err
    assert not (tmp_path / "o.pt").exists()
