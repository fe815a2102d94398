"""Resuming a run is a promise: the resumed run continues the run that was started (its total,
its schedule, its data); flags given with ``--resume`` that contradict it are refused."""

from __future__ import annotations

import argparse
import dataclasses
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.checkpoint import CheckpointError, read_checkpoint_file
from core.training.config import RESUMABLE, TrainConfig, flag
from core.training.presets import expand


@dataclass(frozen=True)
class SavedRun:
    """What ``last.pt`` holds of a run: its settings and where it stopped."""

    config: TrainConfig
    algorithm_config: dict[str, Any]
    metadata: dict[str, Any]
    weights: dict[str, Any]
    state: dict[str, Any]

    @property
    def command(self) -> str:
        return self.metadata.get("train_command", "")


def read_run(out: Path) -> SavedRun:
    """The run saved in ``out/last.pt``; ValueError with a one-line reason when there is none."""
    try:
        saved = read_checkpoint_file(out / "last.pt")
    except CheckpointError as exc:
        raise ValueError(f"cannot resume: {exc}") from None
    state = saved.get("training_state")
    meta = saved["metadata"]
    if not isinstance(state, dict) or not isinstance(meta.get("train_config"), dict):
        raise ValueError(f"cannot resume: {out / 'last.pt'} holds no training state")
    try:
        config = TrainConfig(**meta["train_config"])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"cannot resume: {out / 'last.pt'}: unusable settings ({exc})") from None
    return SavedRun(config, saved["config"], meta, saved["state_dict"], state)


def merge(
    saved: SavedRun, given: TrainConfig, given_algorithm: dict[str, Any], explicit: set[str]
) -> TrainConfig:
    """The resumed run's settings: the saved ones, with ``--episodes`` when given.

    ``explicit``: the option names given on the command line. Any other setting given with a
    value different from the run's raises ValueError naming it.
    """
    for name in sorted(explicit):
        if name in RESUMABLE:
            continue
        if any(f.name == name for f in dataclasses.fields(TrainConfig)):
            mine, theirs = getattr(given, name), getattr(saved.config, name)
        elif name in given_algorithm:
            mine, theirs = given_algorithm[name], saved.algorithm_config.get(name)
        else:
            continue  # --out, --device, --threads, --workers, --data-root, --max-minutes
        if mine != theirs:
            raise ValueError(
                f"{flag(name)} {mine} conflicts with the resumed run's {theirs}; drop it to "
                "continue the run as started, or start a new run in another --out"
            )
    config = saved.config
    if "episodes" in explicit:
        step = int(saved.state.get("step", 0))
        if given.episodes < step:
            raise ValueError(
                f"--episodes {given.episodes} is below the {step} steps the run has done; "
                "give a larger total or leave --episodes out"
            )
        config = dataclasses.replace(config, episodes=given.episodes)
    return config


def saved_amp(saved: SavedRun) -> str | None:
    """The ``--amp`` the run was started with (None for float32), so that ``--resume`` without
    ``--amp`` keeps the run's precision. Runs saved before the state held it: read from the
    command that started them."""
    if "amp" in saved.state:
        return saved.state["amp"] or None
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--amp", default=None)
    try:
        words = expand(shlex.split(saved.command)[3:])  # after "python -m core.train"
    except ValueError:
        return None
    return parser.parse_known_args(words)[0].amp
