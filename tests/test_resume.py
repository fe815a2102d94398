"""Resuming a run continues the run that was started; conflicting flags are refused."""

from __future__ import annotations

import json

import pytest
from test_cli import TINY_TRAIN

from core import train
from core.checkpoint import load_checkpoint


@pytest.fixture()
def stopped_run(tiny_root, tmp_path):
    """A 6-step run stopped after 2 steps (--max-minutes 0 stops after the first step)."""
    common = ["--data-root", str(tiny_root), "--out", str(tmp_path), *TINY_TRAIN]
    assert train.main(["--episodes", "6", "--max-minutes", "0", *common]) == 0
    assert train.main(["--resume", "--max-minutes", "0", "--out", str(tmp_path)]) == 0
    assert load_checkpoint(tmp_path / "last.pt").training_state["step"] == 2
    return tmp_path


def test_resume_without_episodes_keeps_the_runs_own_total(stopped_run, tiny_root):
    out = stopped_run
    assert train.main(["--resume", "--out", str(out), "--data-root", str(tiny_root)]) == 0
    assert load_checkpoint(out / "last.pt").training_state["step"] == 6
    assert json.loads((out / "config.json").read_text())["train"]["episodes"] == 6


def test_resume_refuses_conflicting_flags(stopped_run, capsys):
    out = str(stopped_run)
    for conflict in (["--ways", "3"], ["--lr", "0.01"], ["--algorithm", "maml"], ["--seed", "7"]):
        assert train.main(["--resume", "--out", out, *conflict]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and conflict[0] in err and "resumed run" in err
    # the run is untouched: same step, same settings
    assert load_checkpoint(stopped_run / "last.pt").training_state["step"] == 2
    assert json.loads((stopped_run / "config.json").read_text())["train"]["episodes"] == 6
    # a flag equal to the run's own value is no conflict; --episodes may be raised
    assert train.main(["--resume", "--out", out, "--ways", "5", "--episodes", "3"]) == 0
    assert load_checkpoint(stopped_run / "last.pt").training_state["step"] == 3
    assert train.main(["--resume", "--out", out, "--episodes", "1"]) == 2
    assert "below the 3 steps" in capsys.readouterr().err


def test_resume_takes_the_algorithm_of_the_run(tiny_root, tmp_path):
    """`--resume --out RUN` of a non-default algorithm accepts that algorithm's own flags."""
    common = ["--data-root", str(tiny_root), "--out", str(tmp_path), *TINY_TRAIN]
    algo = ["--algorithm", "anil", "--inner-steps", "1", "--adapt-steps", "1"]
    assert train.main([*algo, "--episodes", "2", "--max-minutes", "0", *common]) == 0
    assert train.main(["--resume", "--out", str(tmp_path), "--inner-steps", "1"]) == 0
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert ckpt.learner.name == "anil" and ckpt.training_state["step"] == 2
