"""``python -m core.training.live``: a core.train run reporting JSON lines and taking commands
(no Qt: the window's records are parsed by ``metagui.app.live``, which imports no Qt either)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from core import evaluate, train
from core.checkpoint import load_checkpoint
from core.data.episodes import Episode
from core.training.thumbnails import CELL, GAP, episode_grid
from metagui.app.live import (
    LiveDone,
    LiveEval,
    LivePaused,
    LiveSaved,
    LiveStarted,
    LiveStep,
    LiveThumbnails,
    parse_event,
)

REPO = Path(__file__).resolve().parents[1]
#: A run of seconds on the tiny dataset: evaluations and pictures often, few episodes each.
TINY_LIVE = [
    "--ways",
    "5",
    "--shots",
    "1",
    "--queries",
    "2",
    "--val-ways",
    "5",
    "--val-every",
    "1000",
    "--val-episodes",
    "4",
    "--episodes",
    "100000",
    "--threads",
    "1",
    "--eval-episodes",
    "3",
    "--eval-every",
    "0.5",
    "--thumbnail-every",
    "0.2",
]


class Run:
    """The module in a child process, read line by line."""

    def __init__(self, args: list[str]) -> None:
        env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "core.training.live", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=REPO,
        )
        self.records: list = []

    def send(self, word: str) -> None:
        self.proc.stdin.write(word + "\n")
        self.proc.stdin.flush()

    def until(self, kind, count: int = 1):
        """Read until ``count`` records of type ``kind`` have come since the start."""
        while sum(isinstance(r, kind) for r in self.records) < count:
            line = self.proc.stdout.readline()
            assert line, f"the run ended early: {self.proc.stderr.read()[-2000:]}"
            record = parse_event(line)
            assert record is not None, line  # every line on stdout is an event
            self.records.append(record)
        return [r for r in self.records if isinstance(r, kind)][count - 1]

    def finish(self) -> int:
        """Close stdin (the end of the commands), read the rest; the exit code."""
        out, self.err = self.proc.communicate(timeout=60)
        self.records += [parse_event(line) for line in out.splitlines()]
        return self.proc.returncode


def test_a_live_run_reports_saves_pauses_and_stops_like_core_train(tiny_root, tmp_path, capsys):
    out = tmp_path / "run"
    run = Run([*TINY_LIVE, "--data-root", str(tiny_root), "--out", str(out)])
    try:
        started = run.until(LiveStarted)
        assert started.out == out and started.step == 0 and "test classes" in started.held_out
        assert "ms/step" in started.probe  # float32 and bfloat16 measured, the faster chosen
        first = run.until(LiveEval)
        assert first.step == 0 and [(r.ways, r.shots) for r in first.results] == [(5, 1), (20, 1)]
        run.until(LiveStep, 3)
        picture = run.until(LiveThumbnails)
        assert Image.open(picture.path).size[0] > CELL
        later = run.until(LiveEval, 2)
        assert later.step > 0 and later.elapsed >= 0.5
        run.send("save")
        now = run.until(LiveSaved)
        assert now.why == "now" and now.path.is_file() and now.path.name == f"now-{now.step}.pt"
        run.send("pause")
        assert run.until(LivePaused).paused
        steps = len([r for r in run.records if isinstance(r, LiveStep)])
        run.send("save")  # "Try it now" works while paused, and no step is trained meanwhile
        assert run.until(LiveSaved, 2).step == run.until(LiveStep, steps).step
        run.send("resume")
        assert not run.until(LivePaused, 2).paused
        run.until(LiveStep, steps + 2)
        run.send("stop")
        assert run.finish() == 0
    finally:
        run.proc.kill()
    done = [r for r in run.records if isinstance(r, LiveDone)]
    assert len(done) == 1 and done[0].why == "stopped" and done[0].path == out / "run.pt"
    last_step = [r for r in run.records if isinstance(r, LiveStep)][-1].step
    assert done[0].step == last_step  # the last completed step is kept
    assert load_checkpoint(out / "last.pt").training_state["step"] == last_step
    final = load_checkpoint(done[0].path)
    assert final.metadata["train_command"].startswith("python -m core.train ")
    assert "--events" not in final.metadata["train_command"]  # a core.train command line
    assert final.metadata["metrics"]["live_5w1s"] >= 0
    # core.train continues the run, core.evaluate scores its model
    assert (
        train.main(
            [
                "--resume",
                "--out",
                str(out),
                "--episodes",
                str(last_step + 2),
                "--data-root",
                str(tiny_root),
            ]
        )
        == 0
    )
    assert load_checkpoint(out / "last.pt").training_state["step"] == last_step + 2
    capsys.readouterr()
    assert (
        evaluate.main(
            [
                "--checkpoint",
                str(done[0].path),
                "--episodes",
                "3",
                "--json",
                "--data-root",
                str(tiny_root),
            ]
        )
        == 0
    )
    assert 0 <= json.loads(capsys.readouterr().out)["accuracy"] <= 1


def test_the_end_of_stdin_stops_the_run_and_saves(tiny_root, tmp_path):
    out = tmp_path / "orphan"
    run = Run([*TINY_LIVE, "--data-root", str(tiny_root), "--out", str(out)])
    run.until(LiveStep)
    assert run.finish() == 0  # stdin closed: the window went away
    assert isinstance(run.records[-1], LiveDone) and (out / "orphan.pt").is_file()


def test_a_bad_flag_is_one_line_and_exit_2(tiny_root, tmp_path):
    run = Run(["--ways", "1", "--data-root", str(tiny_root), "--out", str(tmp_path / "x")])
    assert run.finish() == 2
    assert [type(r).__name__ for r in run.records] == ["LiveError"]
    assert "--ways" in run.records[0].text and "--ways" in run.err.strip().splitlines()[-1]


def test_the_episode_picture_has_a_column_per_class_and_a_row_per_image():
    ways, shots, queries = 12, 2, 3
    ep = Episode(
        torch.rand(ways * shots, 1, 28, 28),
        torch.arange(ways).repeat_interleave(shots),
        torch.rand(ways * queries, 1, 28, 28),
        torch.arange(ways).repeat_interleave(queries),
        tuple(map(str, range(ways))),
    )
    grid = episode_grid(ep, ink=True, columns=10, query_rows=2)
    assert grid.size == (10 * (CELL + GAP) + GAP, 4 * (CELL + GAP) + 3 * GAP)
    blank = Episode(
        torch.zeros(2, 1, 28, 28),
        torch.arange(2),
        torch.ones(2, 1, 28, 28),
        torch.arange(2),
        ("a", "b"),
    )
    assert episode_grid(blank, ink=True).getpixel((GAP + 1, GAP + 1)) == (255, 255, 255)


def test_sigterm_saves_the_last_completed_step(tiny_root, tmp_path):
    """What the window does when a step outlasts its one-second stop: SIGTERM."""
    out = tmp_path / "term"
    run = Run([*TINY_LIVE, "--data-root", str(tiny_root), "--out", str(out)])
    run.until(LiveStep, 5)
    run.proc.terminate()
    assert run.finish() == 130
    done = run.records[-1]
    assert isinstance(done, LiveDone) and done.why == "interrupted"
    assert load_checkpoint(out / "last.pt").training_state["step"] == done.step >= 5
    assert load_checkpoint(out / "term.pt").metadata["step"] == done.step


def test_the_precision_probe_leaves_the_learner_alone(tiny_root):
    from core.algorithms import build_learner
    from core.data import load_dataset
    from core.data.episodes import EpisodeSpec
    from core.training.precision import can_probe, probe_precision

    learner = build_learner("protonet", {})
    before = {k: v.clone() for k, v in learner.state_dict().items()}
    assert can_probe(learner, torch.device("cpu"))
    assert not can_probe(build_learner("maml", {}), torch.device("cpu"))
    train_set = load_dataset("omniglot", tiny_root, "train")
    probe = probe_precision(learner, train_set, EpisodeSpec(5, 1, 2), rounds=1)
    assert probe.fp32 > 0 and probe.bf16 > 0 and probe.faster in (None, "bf16")
    assert all(torch.equal(before[k], v) for k, v in learner.state_dict().items())


def test_a_stop_during_a_long_evaluation_saves_the_last_step_without_waiting(tiny_root, tmp_path):
    """The first evaluation is 100,000 episodes long: the stop cannot wait for it to end."""
    out = tmp_path / "long"
    flags = [*TINY_LIVE, "--eval-episodes", "100000", "--precision", "given"]
    run = Run([*flags, "--data-root", str(tiny_root), "--out", str(out)])
    run.until(LiveStarted)  # the evaluation at step 0 begins
    run.send("stop")
    assert run.finish() == 0
    done = run.records[-1]
    assert isinstance(done, LiveDone) and done.why == "stopped" and done.step == 0
    assert not any(isinstance(r, LiveEval) for r in run.records)  # it never ended
    assert load_checkpoint(out / "last.pt").training_state["step"] == 0
    assert (out / "long.pt").is_file()


def test_lines_that_are_not_events_are_ignored():
    for line in ("", "tqdm 3/10", "[1, 2]", '{"kind": "step"}', '{"kind": "nope"}', b"\xff"):
        assert parse_event(line) is None
    step = parse_event('{"kind": "step", "step": 3, "loss": 1.5, "accuracy": 0.5, '
                       '"episodes_per_s": 2.0, "elapsed": 1.0, "eta": null}')  # fmt: skip
    assert step == LiveStep(3, 1.5, 0.5, 2.0, 1.0, None)


def test_nice_is_checked():
    from core.training.live import parse_live_args

    assert parse_live_args(["--nice", "10"])[0].nice == 10
    with pytest.raises(SystemExit):
        parse_live_args(["--nice", "25"])
