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
        (["--backbone-lr", "0"], "--backbone-lr must be a fraction of --lr in (0, 1]"),
        (["--backbone-lr", "2"], "--backbone-lr must be a fraction of --lr in (0, 1]"),
        (["--backbone-lr", "nan"], "--backbone-lr must be a fraction of --lr in (0, 1]"),
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


HUGE = "1000000000000"
TOOLS = {
    "train": [],
    "evaluate": ["--checkpoint", CHECKPOINT],
    "predict": ["--checkpoint", CHECKPOINT, "--support", "s", "--query", "q"],
    "export": ["--checkpoint", CHECKPOINT, "--support", "s", "--out", "m.pt"],
    "openset": ["--checkpoint", CHECKPOINT],
    "average": [CHECKPOINT, CHECKPOINT, "--out", "mean.pt"],
}


def _exit_code(tool: str, args: list[str]) -> int:
    import importlib

    name = "core.openset.__main__" if tool == "openset" else f"core.{tool}"
    module = importlib.import_module(name)
    try:
        return module.main([*TOOLS[tool], *args])
    except SystemExit as exc:
        return exc.code


@pytest.mark.parametrize(
    ("tool", "flags", "bound"),
    [
        *[(tool, ["--threads", HUGE], "--threads") for tool in TOOLS],
        ("train", ["--workers", HUGE, "--dataset", "folder"], "--workers"),
        ("train", ["--meta-batch", HUGE], "--meta-batch"),
        ("train", ["--ways", HUGE], "--ways"),
        ("train", ["--shots", HUGE], "--shots"),
        ("train", ["--queries", HUGE], "--queries"),
        ("train", ["--episodes", HUGE], "--episodes"),
        ("train", ["--val-episodes", HUGE], "--val-episodes"),
        ("train", ["--hidden", HUGE], "--hidden"),
        ("train", ["--algorithm", "maml", "--inner-steps", HUGE], "--inner-steps"),
        ("train", ["--algorithm", "maml", "--adapt-steps", HUGE], "--adapt-steps"),
        ("train", ["--algorithm", "maml", "--inner-lr", "inf"], "--inner-lr"),
        ("train", ["--algorithm", "maml", "--inner-lr", "1e12"], "--inner-lr"),
        ("train", ["--lr", "1e12"], "--lr"),
        ("train", ["--lr-gamma", "1e12"], "--lr-gamma"),
        ("train", ["--max-minutes", "nan"], "--max-minutes"),
        ("train", ["--ways", "1000", "--shots", "100", "--queries", "100"], "images per step"),
        ("evaluate", ["--episodes", HUGE], "--episodes"),
        ("evaluate", ["--ways", HUGE], "--ways"),
        ("evaluate", ["--workers", HUGE], "--workers"),
        ("evaluate", ["--adapt-steps", HUGE], "--adapt-steps"),
        ("evaluate", ["--adapt-lr", "inf"], "--adapt-lr"),
        ("predict", ["--adapt-steps", HUGE], "--adapt-steps"),
        ("export", ["--adapt-lr", "1e12"], "--adapt-lr"),
        ("openset", ["--episodes", HUGE], "--episodes"),
        ("openset", ["--test-episodes", HUGE], "--test-episodes"),
        ("openset", ["--shots", "1", HUGE], "--shots"),
        ("average", ["--bn-episodes", HUGE], "--bn-episodes"),
    ],
)
def test_every_size_is_bounded_in_one_line(tool, flags, bound, tmp_path, capsys, monkeypatch):
    """Absurd sizes would fork, allocate or loop without end: refused up front, naming the
    bound that was hit; nothing is written."""
    monkeypatch.chdir(tmp_path)
    assert _exit_code(tool, [*flags, *(["--out", "run"] if tool == "train" else [])]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and bound in err, err
    assert "bound" in err or "finite" in err or "positive" in err, err
    assert list(tmp_path.iterdir()) == []


def test_a_diverging_training_run_stops_in_one_line(tiny_root, tmp_path, capsys):
    """An inner learning rate within the bound can still diverge: one line, no traceback."""
    args = ["--algorithm", "maml", "--inner-lr", "900000", "--inner-steps", "2", "--ways", "5"]
    args += ["--shots", "1", "--queries", "1", "--val-ways", "5", "--val-every", "2"]
    args += ["--val-episodes", "2", "--threads", "1", "--episodes", "3"]
    assert train.main([*args, "--data-root", str(tiny_root), "--out", str(tmp_path)]) == 1
    errors = [x for x in capsys.readouterr().err.splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and "training diverged at step" in errors[0]


def test_evaluate_reports_a_diverged_adaptation_in_one_line(tiny_root, capsys, monkeypatch):
    from core.algorithms.base import AdaptationDiverged

    def diverging(*args, **kwargs):
        raise AdaptationDiverged("adaptation diverged at step 1 (loss inf); lower the rate")
        yield

    monkeypatch.setattr(evaluate, "evaluate_iter", diverging)
    args = ["--checkpoint", CHECKPOINT, "--data-root", str(tiny_root), "--allow-overlap"]
    assert evaluate.main([*args, "--episodes", "2", "--threads", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: adaptation diverged at step 1 (loss inf); lower the rate"


def test_the_bounds_table_in_the_docs_is_the_one_in_the_code():
    from pathlib import Path

    from core.bounds import UPPER, flag, shown

    doc = (Path(__file__).parents[1] / "docs" / "bounds.md").read_text()
    for name, bound in UPPER.items():
        assert f"| `{flag(name)}` | {shown(bound)} |" in doc, name
