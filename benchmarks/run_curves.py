"""Learning curves of training runs, from their ``metrics.csv`` (written by ``core.train``).

    python benchmarks/run_curves.py RUN_DIR[=LABEL] ... --out curves.png [--csv-dir DIR]

One panel per run: validation accuracy with its 95 % interval (the run's own validation task),
and the training episodes' accuracy as a running mean of ``--smooth`` logged points. A run that
spans sessions (``--resume``) has one ``metrics.csv`` holding every session. ``--csv-dir`` also
writes each run's validation rows (step, accuracy, ci95) as ``LABEL.csv``: small files that keep
a curve after its run folder is gone. A ``.csv`` given instead of a run folder is read as such a
file (validation only).
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
import textwrap
from pathlib import Path


def read_metrics(path: Path) -> tuple[list[tuple[int, float, float]], list[tuple[int, float]]]:
    """(validation rows (step, accuracy, ci95), training rows (step, accuracy)) of a run's
    ``metrics.csv`` or of a validation CSV; ValueError (one line) when neither."""
    file = path / "metrics.csv" if path.is_dir() else path
    if not file.is_file():
        raise ValueError(f"{path}: no metrics.csv (is it a core.train run folder?)")
    val, train = [], []
    with file.open(newline="") as f:
        for row in csv.DictReader(f):
            try:
                step, acc = int(row["step"]), float(row["accuracy"])
            except (KeyError, TypeError, ValueError):
                continue
            kind = row.get("kind", "val")
            if kind == "val":
                val.append((step, acc, float(row.get("ci95") or 0.0)))
            elif kind == "train":
                train.append((step, acc))
    if not val and not train:
        raise ValueError(f"{file}: no step/accuracy rows")
    # a resumed run may log a step twice (the interrupted session and the resumed one): keep
    # the last of each, in step order
    val = sorted({s: (s, a, c) for s, a, c in val}.values())
    train = sorted(dict(train).items())
    return val, train


def running_mean(rows: list[tuple[int, float]], n: int) -> list[tuple[int, float]]:
    out, total = [], 0.0
    for i, (step, acc) in enumerate(rows):
        total += acc - (rows[i - n][1] if i >= n else 0.0)
        out.append((step, total / min(i + 1, n)))
    return out


def write_val_csv(rows: list[tuple[int, float, float]], path: Path) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "kind", "accuracy", "ci95"])
        w.writerows((s, "val", f"{a:.5f}", f"{c:.5f}") for s, a, c in rows)


def plot(runs: list[tuple[str, list, list]], out: Path, smooth: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(2, len(runs))
    rows = (len(runs) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 3.6 * rows), squeeze=False)
    for ax, (label, val, train) in zip(axes.flat, runs, strict=False):
        if train:
            xs, ys = zip(*running_mean(train, smooth), strict=True)
            ax.plot(xs, [100 * y for y in ys], color="0.7", lw=1, label="training episodes")
        if val:
            xs, ys, cs = zip(*val, strict=True)
            lo = [100 * (y - c) for y, c in zip(ys, cs, strict=True)]
            hi = [100 * (y + c) for y, c in zip(ys, cs, strict=True)]
            ax.fill_between(xs, lo, hi, color="tab:blue", alpha=0.2, lw=0)
            ax.plot(xs, [100 * y for y in ys], "o-", ms=2.5, color="tab:blue", label="validation")
        ax.set_title(textwrap.fill(label, 70), fontsize=9)
        ax.set_xlabel("step (meta-update)")
        ax.set_ylabel("accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    for ax in list(axes.flat)[len(runs) :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out, dpi=90)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", metavar="RUN_DIR[=LABEL]")
    p.add_argument("--out", type=Path, required=True, help="the PNG to write")
    p.add_argument("--csv-dir", type=Path, help="also write each run's validation rows here")
    p.add_argument("--smooth", type=int, default=50, help="training points per running mean")
    args = p.parse_args(argv)
    if args.smooth < 1:
        p.error("--smooth must be at least 1")
    runs = []
    for spec in args.runs:
        path, _, label = spec.partition("=")
        name = Path(path).stem if Path(path).suffix == ".csv" else Path(path).name
        label = label or name
        try:
            val, train = read_metrics(Path(path))
        except (ValueError, OSError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        runs.append((label, val, train))
        if args.csv_dir:
            args.csv_dir.mkdir(parents=True, exist_ok=True)
            write_val_csv(val, args.csv_dir / (re.sub(r"[^\w.-]+", "-", name).strip("-") + ".csv"))
    plot(runs, args.out, args.smooth)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
