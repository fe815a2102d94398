"""benchmarks/run_curves.py: learning curves from core.train's metrics.csv."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import run_curves


def write_metrics(folder: Path, rows: list[tuple]) -> Path:
    folder.mkdir(parents=True)
    with (folder / "metrics.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "kind", "loss", "accuracy", "lr", "ci95"])
        w.writerows(rows)
    return folder


def test_reads_val_and_train_rows_and_keeps_the_last_of_a_repeated_step(tmp_path):
    run = write_metrics(
        tmp_path / "run",
        [
            (10, "train", 1.6, 0.2, 1e-3, ""),
            (20, "train", 1.5, 0.4, 1e-3, ""),
            (20, "val", "", 0.30, "", 0.02),
            (30, "train", 1.4, 0.6, 1e-3, ""),
            (20, "val", "", 0.35, "", 0.02),  # a resumed session logs step 20 again
            (40, "val", "", 0.50, "", 0.01),
        ],
    )
    val, train = run_curves.read_metrics(run)
    assert val == [(20, 0.35, 0.02), (40, 0.50, 0.01)]
    assert train == [(10, 0.2), (20, 0.4), (30, 0.6)]
    means = run_curves.running_mean(train, 2)
    assert [s for s, _ in means] == [10, 20, 30]
    assert [m for _, m in means] == pytest.approx([0.2, 0.3, 0.5])


def test_writes_a_png_and_validation_csvs_that_read_back(tmp_path):
    run = write_metrics(
        tmp_path / "mann-run",
        [(s, "train", 1.0, s / 100, 1e-3, "") for s in range(10, 100, 10)]
        + [(50, "val", "", 0.4, "", 0.03), (100, "val", "", 0.6, "", 0.02)],
    )
    out = tmp_path / "curves.png"
    code = run_curves.main([f"{run}=MANN", "--out", str(out), "--csv-dir", str(tmp_path / "csv")])
    assert code == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    kept = tmp_path / "csv" / "mann-run.csv"
    assert run_curves.read_metrics(kept) == ([(50, 0.4, 0.03), (100, 0.6, 0.02)], [])
    # the kept CSV is itself a valid input
    assert run_curves.main([str(kept), "--out", str(tmp_path / "again.png")]) == 0


def test_a_folder_without_metrics_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert run_curves.main([str(tmp_path / "empty"), "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "no metrics.csv" in err and "\n" not in err
    assert not (tmp_path / "x.png").exists()
