"""Meta-training in the window, without Qt: the records of ``python -m core.training.live``'s JSON
lines, the command line that starts a run, and where runs go.

One record type per fact (``LiveStarted``, ``LiveStep``, ``LiveEval``, ``LiveValidation``,
``LiveThumbnails``, ``LiveSaved``, ``LivePaused``, ``LiveDone``, ``LiveError``); ``parse_event``
turns one line into one of them (None for a line that is not an event). Importing this module
imports neither torch nor core: ``run_choices`` imports core when called.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

#: The default recipe: the fast ProtoNet of ``benchmarks/time_to_accuracy.py``.
DEFAULT_PRESET = "protonet-vinyals-fast"
#: Published few-shot accuracy (%) drawn on the plot: ProtoNet on Omniglot (Snell et al. 2017).
PAPER = {(5, 1): 98.8, (20, 1): 96.0}
PAPER_NAME = "ProtoNet paper"


@dataclass(frozen=True)
class LiveStarted:
    out: Path
    algorithm: str
    total: int  # meta-steps the run trains for
    step: int  # where it starts (a resumed run: > 0)
    resumed: str | None
    amp: str
    held_out: str  # which classes the live accuracy is measured on
    meta_batch: int
    max_seconds: float | None
    probe: str = ""  # the precision measured and chosen, or "" when not measured


@dataclass(frozen=True)
class LiveStep:
    step: int
    loss: float
    accuracy: float
    episodes_per_s: float
    elapsed: float  # seconds of training (evaluations and pauses excluded)
    eta: float | None


@dataclass(frozen=True)
class HeldOutResult:
    ways: int
    shots: int
    accuracy: float  # 0..1
    ci95: float


@dataclass(frozen=True)
class LiveEval:
    step: int
    elapsed: float
    results: tuple[HeldOutResult, ...]
    episodes: int
    classes: str


@dataclass(frozen=True)
class LiveValidation:
    """``core.train``'s own validation (it decides best.pt)."""

    step: int
    accuracy: float
    ci95: float
    best: bool
    elapsed: float


@dataclass(frozen=True)
class LiveThumbnails:
    step: int
    path: Path


@dataclass(frozen=True)
class LiveSaved:
    path: Path
    why: str  # "now" ("Try it now"), "last" (resumable), "final" (the run's model)
    step: int
    elapsed: float


@dataclass(frozen=True)
class LivePaused:
    step: int
    paused: bool


@dataclass(frozen=True)
class LiveDone:
    why: str  # finished, stopped, time limit, interrupted
    step: int
    elapsed: float
    path: Path  # the run's model


@dataclass(frozen=True)
class LiveError:
    text: str


LiveRecord = (
    LiveStarted
    | LiveStep
    | LiveEval
    | LiveValidation
    | LiveThumbnails
    | LiveSaved
    | LivePaused
    | LiveDone
    | LiveError
)


def parse_event(line: str | bytes) -> LiveRecord | None:
    """One JSON line of ``core.training.live`` as a record; None for anything else."""
    try:
        doc = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(doc, dict):
        return None
    try:
        return _record(doc)
    except (KeyError, TypeError, ValueError):
        return None


def _record(d: dict) -> LiveRecord | None:
    kind = d.get("kind")
    if kind == "step":
        eta = d.get("eta")
        return LiveStep(
            int(d["step"]),
            float(d["loss"]),
            float(d["accuracy"]),
            float(d["episodes_per_s"]),
            float(d["elapsed"]),
            None if eta is None else float(eta),
        )
    if kind == "eval":
        results = tuple(
            HeldOutResult(int(r["ways"]), int(r["shots"]), float(r["accuracy"]), float(r["ci95"]))
            for r in d["results"]
        )
        return LiveEval(
            int(d["step"]), float(d["elapsed"]), results, int(d["episodes"]), str(d["classes"])
        )
    if kind == "validation":
        return LiveValidation(
            int(d["step"]),
            float(d["accuracy"]),
            float(d["ci95"]),
            bool(d["best"]),
            float(d["elapsed"]),
        )
    if kind == "thumbnails":
        return LiveThumbnails(int(d["step"]), Path(d["path"]))
    if kind == "saved":
        return LiveSaved(Path(d["path"]), str(d["why"]), int(d["step"]), float(d["elapsed"]))
    if kind in ("paused", "resumed"):
        return LivePaused(int(d["step"]), kind == "paused")
    if kind == "done":
        return LiveDone(str(d["why"]), int(d["step"]), float(d["elapsed"]), Path(d["path"]))
    if kind == "error":
        return LiveError(str(d["text"]))
    if kind == "started":
        seconds = d.get("max_seconds")
        return LiveStarted(
            Path(d["out"]),
            str(d["algorithm"]),
            int(d["total"]),
            int(d["step"]),
            d.get("resumed"),
            str(d.get("amp", "")),
            str(d["held_out"]),
            int(d.get("meta_batch", 1)),
            None if seconds is None else float(seconds),
            str(d.get("probe") or ""),
        )
    return None


# ---------------------------------------------------------------- starting a run


@dataclass(frozen=True)
class RunRequest:
    """What the user chose. ``preset``: a ``core.train`` preset or "" (the flags alone);
    ``init``: a checkpoint to start from (fine-tuning), or None: random weights."""

    algorithm: str
    dataset: str
    split: str | None
    preset: str = DEFAULT_PRESET
    init: Path | None = None
    data_root: Path | None = None
    extra: tuple[str, ...] = ()  # more core.train flags, e.g. ("--episodes", "20")
    threads: int | None = None


def runs_dir() -> Path:
    """Where the window's runs go: ``METAGUI_RUNS``, else the user's data folder
    (``$XDG_DATA_HOME/metagui/runs``, ``~/.local/share/metagui/runs``)."""
    if os.environ.get("METAGUI_RUNS"):
        return Path(os.environ["METAGUI_RUNS"]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base).expanduser() / "metagui" / "runs"


def run_folder(request: RunRequest, when: float | None = None, parent: Path | None = None) -> Path:
    """A new folder for a run: ``<algorithm>-<dataset>-<YYYYmmdd-HHMMSS>`` (a suffix if taken)."""
    parent = runs_dir() if parent is None else parent
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(when))
    base = parent / f"{request.algorithm}-{request.dataset}-{stamp}"
    folder, n = base, 1
    while folder.exists():
        n += 1
        folder = base.with_name(f"{base.name}-{n}")
    return folder


#: How much lower the run's CPU priority is than the window's (POSIX): drawing while it
#: trains keeps the window responsive (``benchmarks/gui_latency.py --while-training``).
LIVE_NICE = 10


def live_command(request: RunRequest, out: Path) -> list[str]:
    """The arguments of ``python -m core.training.live`` for ``request`` (this interpreter)."""
    args = ["-m", "core.training.live"]
    if request.preset:
        args += ["--preset", request.preset]
    args += ["--algorithm", request.algorithm, "--dataset", request.dataset]
    if request.split:
        args += ["--split", request.split]
    if request.init is not None:
        args += ["--init-backbone", str(request.init)]
    if request.data_root is not None:
        args += ["--data-root", str(request.data_root)]
    if request.threads is not None:
        args += ["--threads", str(request.threads)]
    args += ["--nice", str(LIVE_NICE)]
    return [*args, *request.extra, "--out", str(out), "--events", "-"]


def python() -> str:
    """The interpreter running the window (its venv has torch and core)."""
    return sys.executable


def child_pythonpath(current: str = "") -> str:
    """``PYTHONPATH`` for the run's process: the folder holding this ``metagui`` (and its ``core``)
    first, so the run uses the core that came with the window."""
    here = Path(__file__).resolve().parents[2]
    parts = [p for p in current.split(os.pathsep) if p]
    if (here / "core").is_dir() and str(here) not in parts:
        parts.insert(0, str(here))
    return os.pathsep.join(parts)


def trained_checkpoints(parent: Path | None = None) -> list[Path]:
    """The models of the window's finished runs (``<run>/<run>.pt``), newest first."""
    parent = runs_dir() if parent is None else parent
    if not parent.is_dir():
        return []
    found = [
        run / f"{run.name}.pt" for run in parent.iterdir() if (run / f"{run.name}.pt").is_file()
    ]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


@dataclass(frozen=True)
class Choices:
    """What a run can be made of, from core's registries."""

    algorithms: tuple[str, ...]
    datasets: tuple[tuple[str, str, tuple[str, ...]], ...]  # (name, summary, splits)
    presets: tuple[str, ...]


def run_choices() -> Choices:
    """The registered algorithms, datasets (with their splits) and presets (imports core)."""
    from core.algorithms import ALGORITHMS
    from core.data.datasets import DATASETS, dataset_kind
    from core.training.presets import PRESETS

    datasets = tuple(
        (name, dataset_kind(name).summary, tuple(dataset_kind(name).splits or ()))
        for name in DATASETS
    )
    return Choices(tuple(ALGORITHMS), datasets, tuple(PRESETS))


def preset_algorithm(preset: str) -> str | None:
    """The ``--algorithm`` a preset names (imports core's presets, which need no torch)."""
    from core.training.presets import PRESETS

    words = PRESETS.get(preset, "").split()
    return words[words.index("--algorithm") + 1] if "--algorithm" in words else None
