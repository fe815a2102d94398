"""One run per folder: a second writer is refused, a new run does not start over an old one."""

from __future__ import annotations

from test_cli import TINY_TRAIN

from core import train
from core.checkpoint import load_checkpoint
from core.training.run_folder import claim


def _args(tiny_root, out, *more):
    return ["--episodes", "2", "--data-root", str(tiny_root), "--out", str(out), *TINY_TRAIN, *more]


def test_a_second_run_into_a_busy_folder_is_refused(tiny_root, tmp_path, capsys):
    out = tmp_path / "run"
    assert train.main(_args(tiny_root, out)) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    capsys.readouterr()
    busy = claim(out, resume=True, overwrite=False)  # as another process's run holds it
    try:
        for more in (["--resume", "--episodes", "4"], ["--overwrite"]):
            assert train.main(_args(tiny_root, out, *more)) == 2
            err = capsys.readouterr().err.strip()
            assert len(err.splitlines()) == 1 and "in use by another training run" in err
        assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    finally:
        busy.release()
    assert train.main(_args(tiny_root, out, "--resume", "--episodes", "4")) == 0  # free again


def test_a_new_run_does_not_start_over_an_old_one(tiny_root, tmp_path, capsys):
    out = tmp_path / "run"
    assert train.main(_args(tiny_root, out)) == 0
    metrics, last = (out / "metrics.csv").read_bytes(), (out / "last.pt").read_bytes()
    capsys.readouterr()
    assert train.main(_args(tiny_root, out, "--seed", "3")) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "already holds a run" in err and "--resume" in err
    assert (out / "metrics.csv").read_bytes() == metrics and (out / "last.pt").read_bytes() == last
    assert train.main(_args(tiny_root, out, "--resume", "--overwrite")) == 2
    assert "cannot go with --resume" in capsys.readouterr().err
    # --overwrite starts over: the old run's log is not appended to
    assert train.main(_args(tiny_root, out, "--seed", "3", "--overwrite")) == 0
    rows = (out / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("step,kind") and sum(r.startswith("step") for r in rows) == 1
    assert [r.split(",")[:2] for r in rows[1:]] == [["2", "val"]]
    assert load_checkpoint(out / "last.pt").metadata["train_config"]["seed"] == 3
