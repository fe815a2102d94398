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
