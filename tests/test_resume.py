"""Resuming a run continues the run that was started; conflicting flags are refused."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
import torch
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


def test_resume_keeps_the_runs_mixed_precision(tiny_root, tmp_path, capsys):
    """A run started with --amp bf16 resumes in bf16 without the flag, also from a last.pt saved
    before the training state recorded it (read from the run's command)."""
    common = ["--data-root", str(tiny_root), "--out", str(tmp_path), *TINY_TRAIN]
    args = ["--episodes", "4", "--max-minutes", "0", "--device", "cpu", "--amp", "bf16"]
    assert train.main([*args, *common]) == 0
    assert load_checkpoint(tmp_path / "last.pt").training_state["amp"] == "bf16"
    capsys.readouterr()
    assert train.main(["--resume", "--max-minutes", "0", "--out", str(tmp_path)]) == 0
    assert "at step 1 with --amp bf16" in capsys.readouterr().err
    raw = torch.load(tmp_path / "last.pt", weights_only=True)
    del raw["training_state"]["amp"]  # as saved by earlier versions
    torch.save(raw, tmp_path / "last.pt")
    assert train.main(["--resume", "--max-minutes", "0", "--out", str(tmp_path)]) == 0
    assert "at step 2 with --amp bf16" in capsys.readouterr().err
    assert load_checkpoint(tmp_path / "last.pt").training_state["amp"] == "bf16"
    # a run in float32 stays in float32
    plain = tmp_path / "plain"
    common[3] = str(plain)
    assert train.main(["--episodes", "4", "--max-minutes", "0", *common]) == 0
    assert train.main(["--resume", "--max-minutes", "0", "--out", str(plain)]) == 0
    assert "with --amp" not in capsys.readouterr().err
    assert load_checkpoint(plain / "last.pt").training_state["amp"] == ""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_between_steps_and_resume_is_exact(signum, tiny_root, tmp_path):
    """Ctrl+C or `kill` lands anywhere, most often inside a step; the run stops between two
    steps, so that --resume ends with exactly the weights (and BatchNorm statistics) of a run
    that was never stopped."""
    common = ["--data-root", str(tiny_root), *TINY_TRAIN, "--val-every", "100000"]
    stopped = tmp_path / "stopped"
    proc = subprocess.Popen(
        [sys.executable, "-m", "core.train", "--episodes", "100000", "--out", str(stopped),
         *common], stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while not (stopped / "metrics.csv").exists() and time.monotonic() < deadline:
            time.sleep(0.05)  # written at step 10: the run is stepping
        time.sleep(0.3)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    step = load_checkpoint(stopped / "last.pt").training_state["step"]
    assert step >= 10
    total = ["--episodes", str(step + 2)]
    resume = ["--resume", "--out", str(stopped), "--data-root", str(tiny_root), "--threads", "1"]
    assert train.main([*resume, *total]) == 0
    assert train.main(["--out", str(tmp_path / "whole"), *total, *common]) == 0
    a = load_checkpoint(tmp_path / "whole" / "last.pt").learner.state_dict()
    b = load_checkpoint(stopped / "last.pt").learner.state_dict()
    for k, v in a.items():
        assert torch.equal(v, b[k]), f"{k} differs after a stop at step {step} and --resume"
    assert f"saved {stopped / 'last.pt'} at step {step}" in err
