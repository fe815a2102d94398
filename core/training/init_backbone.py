"""``core.train --init-backbone CHECKPOINT``: a new run's backbone starts from another
checkpoint's (e.g. a memory or Siamese learner from Prototypical Networks features trained on
the same classes, or a larger-input run from a 28 px one). The source's training classes become
part of the run's record, so that ``core.evaluate`` refuses test classes either of them saw."""

from __future__ import annotations

from pathlib import Path

from core.algorithms.base import Learner
from core.checkpoint import load_checkpoint


def init_backbone(learner: Learner, path: str | Path) -> tuple[str, ...]:
    """Copy the backbone weights of the checkpoint at ``path`` into ``learner.backbone``;
    returns the source's training characters. ValueError (one line) when it cannot."""
    source = load_checkpoint(path, "cpu")  # ValueError for a missing or foreign file
    name = Path(path).name
    theirs = getattr(source.learner, "backbone", None)
    ours = getattr(learner, "backbone", None)
    if theirs is None or ours is None:
        who = source.learner.name if theirs is None else learner.name
        raise ValueError(f"--init-backbone {name}: {who} has no backbone to copy")
    a, b = theirs.state_dict(), ours.state_dict()
    shapes = {k: tuple(v.shape) for k, v in a.items()} == {k: tuple(v.shape) for k, v in b.items()}
    mine = (learner.config.backbone, learner.config.hidden, learner.config.input_size)
    yours = (source.learner.config.backbone, source.learner.config.hidden)
    yours += (source.learner.config.input_size,)
    # a convolutional backbone's weights do not depend on the input size: the same shapes
    # mean a 28 px backbone can start a 56 px run (only the embedding grows)
    if not shapes or mine[:2] != yours[:2]:
        raise ValueError(
            f"--init-backbone {name}: its backbone {yours[0]} (hidden {yours[1]}, "
            f"{yours[2]} px) differs from this run's {mine[0]} (hidden {mine[1]}, {mine[2]} px)"
        )
    ours.load_state_dict(a)
    return tuple(source.metadata.get("train_characters", ()))
