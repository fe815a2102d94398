"""End-to-end CLI tests: train (and resume exactly), evaluate, predict, bad input -> exit 2."""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
import time

import pytest
import torch
from PIL import Image, ImageDraw

from core import evaluate, predict, train
from core.checkpoint import load_checkpoint

TINY_TRAIN = [
    "--ways", "5", "--shots", "2", "--queries", "2", "--val-ways", "5",
    "--val-every", "2", "--val-episodes", "4", "--threads", "1",
]  # fmt: skip


@pytest.fixture(scope="module")
def trained(tiny_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    args = ["--episodes", "4", "--data-root", str(tiny_root), "--out", str(out), *TINY_TRAIN]
    assert train.main(args) == 0
    return out


def test_train_writes_checkpoints_logs_and_config(trained):
    written = {p.name for p in trained.iterdir()}
    assert written >= {"best.pt", "best.json", "last.pt", "config.json", "metrics.csv"}
    summary = json.loads((trained / "best.json").read_text())
    assert summary["step"] == load_checkpoint(trained / "best.pt").metadata["step"]
    assert "val_accuracy" in summary["metrics"] and summary["algorithm_config"]["hidden"] == 64
    ckpt = load_checkpoint(trained / "best.pt")
    assert ckpt.training_state is None
    meta = ckpt.metadata
    assert meta["split"] == "vinyals" and meta["subset"] == "train"
    assert meta["train_command"].startswith("python -m core.train --episodes 4")
    assert "val_accuracy" in meta["metrics"] and meta["input_size"] == 28
    rows = (trained / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("step,kind") and any(",val," in r for r in rows)
    assert load_checkpoint(trained / "last.pt").training_state["step"] == 4


def test_resume_continues_exactly(tiny_root, tmp_path):
    common = ["--data-root", str(tiny_root), *TINY_TRAIN]
    assert train.main(["--episodes", "4", "--out", str(tmp_path / "a"), *common]) == 0
    assert train.main(["--episodes", "2", "--out", str(tmp_path / "b"), *common]) == 0
    assert train.main(["--episodes", "4", "--resume", "--out", str(tmp_path / "b"), *common]) == 0
    a = load_checkpoint(tmp_path / "a" / "last.pt")
    b = load_checkpoint(tmp_path / "b" / "last.pt")
    assert b.training_state["step"] == 4
    for k, v in a.learner.state_dict().items():
        assert torch.equal(v, b.learner.state_dict()[k]), f"{k} differs after resume"


def test_max_minutes_stops_with_a_validated_resumable_run(tiny_root, tmp_path, capsys):
    common = ["--data-root", str(tiny_root), "--out", str(tmp_path), *TINY_TRAIN]
    assert train.main(["--episodes", "50", "--max-minutes", "0", *common]) == 0
    err = capsys.readouterr().err
    assert "time limit reached at step 1" in err and "--resume" in err
    last = load_checkpoint(tmp_path / "last.pt")
    assert last.training_state["step"] == 1 and "val_accuracy" in last.metadata["metrics"]
    assert (tmp_path / "best.pt").is_file()
    assert train.main(["--resume", "--max-minutes", "0", *common]) == 0  # one more step
    assert load_checkpoint(tmp_path / "last.pt").training_state["step"] == 2
    assert train.main(["--max-minutes", "-1", *common]) == 2
    assert "--max-minutes must not be negative" in capsys.readouterr().err


def test_sigterm_saves_the_run_like_ctrl_c(tiny_root, tmp_path):
    """A background run stopped with `kill` keeps its progress (SIGINT is ignored there)."""
    args = ["--episodes", "100000", "--data-root", str(tiny_root), "--out", str(tmp_path)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "core.train", *args, *TINY_TRAIN],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 600  # a healthy run validates in seconds
        while not (tmp_path / "last.pt").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert (tmp_path / "last.pt").exists(), "no validation within 10 minutes"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted: saved" in err
    assert load_checkpoint(tmp_path / "last.pt").metadata["metrics"] == {"interrupted": True}


def test_sgd_outer_optimizer_with_linear_annealing_and_resume(tiny_root, tmp_path):
    """Reptile's paper update: SGD, step size annealed linearly to 0 at --episodes; raising
    --episodes on --resume stretches the annealing over the longer run."""
    from core.algorithms import build_learner
    from core.data.splits import load_split

    banks = [load_split(tiny_root, "vinyals", s) for s in ("train", "val")]
    config = train.TrainConfig(
        algorithm="reptile", ways=5, shots=2, queries=2, episodes=4, lr=1.0, optimizer="sgd",
        lr_schedule="linear", val_every=100, val_ways=5, val_episodes=2,
    )  # fmt: skip
    learner = build_learner("reptile", {"inner_steps": 1, "adapt_steps": 1})
    trainer = train.Trainer(config, learner, *banks, torch.device("cpu"))
    assert isinstance(trainer.optimizer, torch.optim.SGD)
    lrs = [r.lr for r in trainer.run() if isinstance(r, train.TrainStep)]
    assert lrs == [1.0, 0.75, 0.5, 0.25]
    longer = dataclasses.replace(config, episodes=8)
    resumed = train.Trainer(longer, learner, *banks, torch.device("cpu"))
    resumed.load_state_dict(trainer.state_dict())
    lrs = [r.lr for r in resumed.run() if isinstance(r, train.TrainStep)]
    assert lrs == [0.5, 0.375, 0.25, 0.125]

    common = ["--algorithm", "reptile", "--inner-steps", "1", "--adapt-steps", "1"]
    common += ["--optimizer", "sgd", "--lr", "1", "--lr-schedule", "linear"]
    common += ["--data-root", str(tiny_root), "--out", str(tmp_path), *TINY_TRAIN]
    assert train.main(["--episodes", "2", *common]) == 0
    assert train.main(["--episodes", "4", "--resume", *common]) == 0
    state = load_checkpoint(tmp_path / "last.pt").training_state
    assert state["step"] == 4 and state["optimizer"]["param_groups"][0]["lr"] == 0.0
    assert "momentum" in state["optimizer"]["param_groups"][0]  # SGD's state, not Adam's
    assert train.main(["--episodes", "8", "--resume", *common]) == 0
    state = load_checkpoint(tmp_path / "last.pt").training_state
    assert state["step"] == 8 and state["optimizer"]["param_groups"][0]["lr"] == 0.0


def test_bad_learning_rates_exit_2(tmp_path, capsys):
    for lr in ("-1", "0", "nan", "inf"):
        args = ["--lr", lr, "--out", str(tmp_path), "--data-root", str(tmp_path)]
        assert train.main(args) == 2
        assert "--lr must be a positive number" in capsys.readouterr().err


def test_resume_without_a_run_fails_clearly(tmp_path, capsys):
    assert train.main(["--resume", "--out", str(tmp_path), "--data-root", str(tmp_path)]) == 2
    assert "cannot resume" in capsys.readouterr().err


def test_resume_with_other_parameter_groups_fails_clearly(tiny_root, tmp_path, capsys):
    """A run saved before its learner had rates of its own (Siamese's offset since issue 33)
    has an optimiser state with fewer groups: one line and exit 2, the run untouched."""
    common = ["--algorithm", "siamese", "--features", "8", "--data-root", str(tiny_root)]
    common += ["--out", str(tmp_path), *TINY_TRAIN]
    assert train.main(["--episodes", "2", *common]) == 0
    raw = torch.load(tmp_path / "last.pt", weights_only=True)
    optimizer = raw["training_state"]["optimizer"]
    assert len(optimizer["param_groups"]) == 2  # the offset's group and the rest
    offset, rest = optimizer["param_groups"]
    rest["params"] = sorted(offset["params"] + rest["params"])  # as one group, as before
    optimizer["param_groups"] = [rest]
    torch.save(raw, tmp_path / "last.pt")
    saved = (tmp_path / "last.pt").read_bytes()
    capsys.readouterr()
    assert train.main(["--episodes", "4", "--resume", *common]) == 2
    err = capsys.readouterr().err
    assert "2 parameter groups" not in err and "1 parameter groups" in err
    assert "--init-backbone" in err and len(err.splitlines()) == 1
    assert (tmp_path / "last.pt").read_bytes() == saved


def test_evaluate_json(trained, tiny_root, capsys):
    args = ["--checkpoint", str(trained / "best.pt"), "--ways", "5", "--shots", "1"]
    args += ["--queries", "3", "--episodes", "5", "--data-root", str(tiny_root), "--json"]
    assert evaluate.main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["episodes"] == 5 and 0.0 <= doc["accuracy"] <= 1.0 and doc["ci95"] >= 0
    assert doc["ways"] == 5 and doc["algorithm"] == "protonet"


def test_evaluate_refuses_overlapping_characters(trained, tiny_root, capsys):
    # vinyals/train holds characters of the evaluation alphabets that lake/test tests on
    args = ["--checkpoint", str(trained / "best.pt"), "--split", "lake", "--within-alphabet"]
    args += ["--ways", "3", "--queries", "1", "--episodes", "2", "--data-root", str(tiny_root)]
    assert evaluate.main(args) == 2
    assert "refusing" in capsys.readouterr().err
    assert evaluate.main([*args, "--allow-overlap"]) == 0
    assert "not a fair test" in capsys.readouterr().err


def _glyph(path, points):
    img = Image.new("RGB", (64, 48), "white")
    ImageDraw.Draw(img).line(points, fill="black", width=4)
    img.save(path)


def test_predict_on_my_own_folders(trained, tmp_path, capsys):
    shapes = {"slash": [(5, 40), (55, 5)], "dash": [(5, 24), (58, 24)], "bar": [(30, 3), (30, 45)]}
    for name, pts in shapes.items():
        (tmp_path / "support" / name).mkdir(parents=True)
        for i in range(2):
            _glyph(tmp_path / "support" / name / f"{i}.png", [(x + i, y) for x, y in pts])
    (tmp_path / "query").mkdir()
    _glyph(tmp_path / "query" / "q.jpg", shapes["dash"])
    (tmp_path / "query" / "broken.png").write_bytes(b"\x89PNG garbage")
    args = ["--checkpoint", str(trained / "best.pt"), "--support", str(tmp_path / "support")]
    assert predict.main([*args, "--query", str(tmp_path / "query"), "--json"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert doc["classes"] == ["bar", "dash", "slash"]
    (row,) = doc["predictions"]
    assert row["file"].endswith("q.jpg")
    assert sum(row["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert row["label"] == max(row["probabilities"], key=row["probabilities"].get)
    assert [s["file"].endswith("broken.png") for s in doc["skipped"]] == [True]
    assert "broken.png" in captured.err
    # plain-text output names the file and the label
    assert predict.main([*args, "--query", str(tmp_path / "query" / "q.jpg")]) == 0
    assert "q.jpg: " in capsys.readouterr().out


def test_predict_bad_folders_exit_2(trained, tmp_path, capsys):
    (tmp_path / "support" / "only").mkdir(parents=True)
    _glyph(tmp_path / "support" / "only" / "a.png", [(5, 5), (40, 40)])
    (tmp_path / "support" / "empty").mkdir()
    args = ["--checkpoint", str(trained / "best.pt"), "--support", str(tmp_path / "support")]
    assert predict.main([*args, "--query", str(tmp_path / "support" / "only")]) == 2
    assert "'empty'" in capsys.readouterr().err
    assert predict.main([*args, "--query", str(tmp_path / "nowhere")]) == 2


def test_bad_checkpoint_and_bad_flags_exit_2(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_text("nope")
    run = [sys.executable, "-m", "core.evaluate", "--checkpoint", str(bad)]
    result = subprocess.run(run, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "bad.pt" in result.stderr
    result = subprocess.run(
        [sys.executable, "-m", "core.train", "--algorithm", "nope"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2 and "unknown algorithm" in result.stderr
    assert (
        train.main(["--episodes", "0", "--out", str(tmp_path), "--data-root", str(tmp_path)]) == 2
    )


def test_help_explains_every_flag():
    result = subprocess.run(
        [sys.executable, "-m", "core.train", "--help"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0
    for flag in ("--resume", "--seed", "--data-root", "--adapt-steps", "--ways", "--device"):
        assert flag in result.stdout
