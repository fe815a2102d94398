"""The largest sizes the tools accept: one table for command-line flags and checkpoint settings.

A size past its bound would not finish (10^12 episodes or adaptation steps), fork without limit
(DataLoader workers), exhaust memory (a meta-batch of 10^12 episodes, a 10^12-wide layer) or
overflow (threads). Such a value is refused up front in one line naming the bound
(``docs/bounds.md`` lists them). Lower bounds (at least 1, positive, ...) are checked where each
value is used, with their own messages.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

#: Adaptation and inner-loop steps (the window's steps box goes to 200).
MAX_STEPS = 1000
#: Width of any layer a learner's settings name (hidden units, features, memory slots, ...).
MAX_WIDTH = 4096
#: Episodes of a run (meta-updates) or of an evaluation.
MAX_EPISODES = 1_000_000
#: Classes, support images per class, queries per class in one episode.
MAX_WAYS = MAX_SHOTS = MAX_QUERIES = 1000
#: Images in one meta-step: ways x (shots + queries) x meta-batch.
MAX_STEP_IMAGES = 100_000
#: Learning rate of the outer loop; of adaptation (the window's box goes to 1e6).
MAX_LR, MAX_ADAPT_LR = 10.0, 1e6

#: Learner settings that are layer widths.
WIDTHS = (
    "hidden", "controller", "features", "heads", "lstm_hidden", "meta_hidden", "relation_hidden",
    "slot_size", "slots", "width",
)  # fmt: skip

#: Upper bounds by setting name (the flag is ``--name-with-dashes``).
UPPER: dict[str, float] = {
    "threads": 1024,
    "workers": 32,
    "meta_batch": 1024,
    "ways": MAX_WAYS,
    "val_ways": MAX_WAYS,
    "unknown_ways": MAX_WAYS,
    "shots": MAX_SHOTS,
    "val_shots": MAX_SHOTS,
    "queries": MAX_QUERIES,
    "val_queries": MAX_QUERIES,
    "episodes": MAX_EPISODES,
    "test_episodes": MAX_EPISODES,
    "val_episodes": 100_000,
    "bn_episodes": 100_000,
    "val_every": MAX_EPISODES,
    "keep_every": MAX_EPISODES,
    "lr_step": MAX_EPISODES,
    "adapt_steps": MAX_STEPS,
    "inner_steps": MAX_STEPS,
    "fce_steps": MAX_STEPS,
    "inner_batch": 10_000,
    "input_size": 512,
    "in_channels": 4,
    **dict.fromkeys(WIDTHS, MAX_WIDTH),
    "lr": MAX_LR,
    "lr_gamma": 1.0,  # a decay factor
    "inner_lr": MAX_ADAPT_LR,
    "adapt_lr": MAX_ADAPT_LR,
    "max_minutes": 1e6,
    "dist_timeout": 1e6,
    "scale": 1e6,
    "gamma": 1.0,
    "grad_clip": 1e6,
    "preprocess_p": 1e6,
    "true_accept": 1.0,
}

#: Float settings for which 0 is a value (the others must be positive).
ZERO_OK = frozenset({"max_minutes", "grad_clip"})


def flag(name: str) -> str:
    """``train_subset`` -> ``--train-subset``."""
    return "--" + name.replace("_", "-")


def shown(bound: float) -> str:
    """A bound as people write it: ``1,000,000``, ``0.5``."""
    return f"{int(bound):,}" if float(bound).is_integer() else f"{bound:g}"


def bound_problem(settings: Mapping[str, object], as_flags: bool = True) -> str | None:
    """Why one of ``settings`` (name -> value; None = not given) is past its bound, as one line,
    or None. ``as_flags``: name them ``--like-this`` (else as the setting's own name)."""
    for name, value in settings.items():
        if name not in UPPER or value is None or isinstance(value, bool):
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            if not isinstance(v, (int, float)):
                continue
            what = flag(name) if as_flags else name
            if isinstance(v, float) and not math.isfinite(v):
                kind = "finite" if name in ZERO_OK else "positive"
                return f"{what} must be a {kind} number (at most {shown(UPPER[name])}), not {v}"
            if v > UPPER[name]:
                given = f"{v:g}" if isinstance(v, float) else str(v)
                return f"{what} {given} is above its bound, {shown(UPPER[name])}"
    return step_images_problem(settings)


def step_images_problem(settings: Mapping[str, object]) -> str | None:
    """An episode batch too large to hold: ways x (shots + queries) x meta-batch images."""
    ways, queries = settings.get("ways"), settings.get("queries")
    shots = settings.get("shots")
    if isinstance(shots, (list, tuple)):
        shots = max(shots, default=None)
    if not all(isinstance(v, int) and v > 0 for v in (ways, shots, queries)):
        return None
    batch = settings.get("meta_batch") or 1
    images = ways * (shots + queries) * (batch if isinstance(batch, int) else 1)
    if images > MAX_STEP_IMAGES:
        return (
            f"{images:,} images per step (--ways x (--shots + --queries) x --meta-batch) is "
            f"above the bound, {MAX_STEP_IMAGES:,}"
        )
    return None
