"""Bad numbers on the command line: exit code 2 and a one-line reason, never NaN or a traceback."""

from __future__ import annotations

import pytest

from core import evaluate, train

CHECKPOINT = "assets/checkpoints/protonet-omniglot.pt"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--queries", "0"], "--queries must be at least 1"),
        (["--val-queries", "0"], "--val-queries must be at least 1"),
        (["--shots", "0"], "--shots must be at least 1"),
        (["--ways", "1"], "--ways and --val-ways must be at least 2"),
        (["--lr-gamma", "0"], "--lr-gamma must be a positive number"),
        (["--lr-gamma", "-0.5"], "--lr-gamma must be a positive number"),
        (["--lr-gamma", "nan"], "--lr-gamma must be a positive number"),
        (["--lr-gamma", "inf"], "--lr-gamma must be a positive number"),
        (["--workers", "-1"], "--workers must not be negative"),
        (["--keep-every", "-2"], "--keep-every must be 0 or a multiple of --val-every"),
    ],
)
def test_train_refuses_bad_numbers(flags, message, tmp_path, capsys):
    assert train.main([*flags, "--out", str(tmp_path / "run"), "--data-root", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {err.removeprefix('error: ')}" and message in err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--queries", "0"], "--queries must be at least 1"),
        (["--shots", "0"], "--shots must be at least 1"),
        (["--ways", "1"], "--ways must be at least 2"),
        (["--episodes", "0"], "--episodes must be at least 1"),
    ],
)
def test_evaluate_refuses_bad_numbers(flags, message, tmp_path, capsys):
    args = ["--checkpoint", CHECKPOINT, "--data-root", str(tmp_path), *flags]
    assert evaluate.main(args) == 2
    err = capsys.readouterr()
    assert message in err.err and err.out == ""


def test_train_refuses_more_ways_than_the_learner_takes(tiny_root, tmp_path, capsys):
    args = ["--algorithm", "mann", "--data-root", str(tiny_root), "--out", str(tmp_path / "r")]
    assert train.main([*args, "--ways", "21", "--val-ways", "5", "--episodes", "1"]) == 2
    assert "mann handles at most 20 classes" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_sequence_protocol(tiny_root, tmp_path, capsys):
    """Santoro et al.'s sequence test for a memory learner; refused for the others."""
    import json

    from core.algorithms import build_learner
    from core.checkpoint import save_checkpoint

    path = tmp_path / "mann.pt"
    save_checkpoint(path, build_learner("mann", {"controller": 16, "slots": 8}), {})
    args = ["--checkpoint", str(path), "--protocol", "sequence", "--ways", "3", "--episodes", "2"]
    args += ["--data-root", str(tiny_root), "--split", "lake", "--allow-overlap"]
    assert evaluate.main([*args, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["presentations"] == [1, 2, 3, 5, 10] and len(doc["accuracy"]) == 5
    assert all(0 <= a <= 1 for a in doc["accuracy"])
    assert evaluate.main(["--checkpoint", CHECKPOINT, *args[2:]]) == 2
    assert "tests learners that read episodes as sequences" in capsys.readouterr().err
