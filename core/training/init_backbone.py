"""``core.train --init-backbone CHECKPOINT``: a new run's backbone starts from another
checkpoint's (e.g. a memory or Siamese learner from Prototypical Networks features trained on
the same classes, or a larger-input run from a 28 px one). The source's training classes become
part of the run's record, so that ``core.evaluate`` refuses test classes either of them saw.

Between two gradient learners (MAML, FOMAML, ANIL, Meta-SGD, Reptile) the shared head row is
copied too, so the new run starts as the source's whole network: Meta-SGD from a MAML checkpoint
begins exactly at that MAML (its learned rates at ``--inner-lr``). From a checkpoint of the same
learner with the same shapes everything is copied (Meta-SGD's learned rates, Relation Networks'
relation module): the run fine-tunes that checkpoint with a new recipe."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from core.algorithms.base import Learner
from core.checkpoint import load_checkpoint
from core.shipped import resolve_checkpoint


def init_backbone(learner: Learner, path: str | Path) -> tuple[str, ...]:
    """Copy the backbone weights of the checkpoint at ``path`` into ``learner.backbone``;
    returns the source's training characters. ValueError (one line) when it cannot."""
    source = load_checkpoint(resolve_checkpoint(path), "cpu")  # ValueError: missing or foreign
    name = Path(path).name
    theirs, ours = backbone_of(source.learner), backbone_of(learner)
    if theirs is None or ours is None:
        who = source.learner.name if theirs is None else learner.name
        raise ValueError(f"--init-backbone {name}: {who} has no backbone to copy")
    a, b = theirs.state_dict(), ours.state_dict()
    mine = (learner.config.backbone, learner.config.hidden, learner.config.input_size)
    yours = (source.learner.config.backbone, source.learner.config.hidden)
    yours += (source.learner.config.input_size,)
    # a convolutional backbone's weights do not depend on the input size: the same shapes
    # mean a 28 px backbone can start a 56 px run (only the embedding grows)
    why = _first_difference(a, b)
    if why or mine[:2] != yours[:2]:
        raise ValueError(
            f"--init-backbone {name}: its backbone {yours[0]} (hidden {yours[1]}, "
            f"{yours[2]} px) differs from this run's {mine[0]} (hidden {mine[1]}, {mine[2]} px)"
            + (f" ({why})" if why else "")
        )
    # BatchNorm statistics only one side keeps are left out: the gradient learners normalise
    # with each task's batch statistics and keep none, a metric learner keeps running ones
    ours.load_state_dict({k: v for k, v in a.items() if k in b}, strict=False)
    whole_a, whole_b = source.learner.state_dict(), learner.state_dict()
    head_a, head_b = getattr(source.learner, "head", None), getattr(learner, "head", None)
    heads = isinstance(head_a, nn.Linear) and isinstance(head_b, nn.Linear)
    if source.learner.name == learner.name and not _first_difference(whole_a, whole_b):
        learner.load_state_dict({k: v for k, v in whole_a.items() if k in whole_b}, strict=False)
    elif heads and head_a.weight.shape == head_b.weight.shape:  # the gradient learners' head row
        head_b.load_state_dict(head_a.state_dict())
    return tuple(source.metadata.get("train_characters", ()))


def backbone_of(learner: Learner):
    """The learner's feature extractor: ``backbone``, or Relation Networks' ``embedding`` (with
    conv4 the same four conv + BatchNorm layers as Conv-4's, only padded and pooled differently,
    so Conv-4 weights are a starting point for it and the other way round)."""
    backbone = getattr(learner, "backbone", None)
    return backbone if backbone is not None else getattr(learner, "embedding", None)


_STATISTICS = ("running_mean", "running_var", "num_batches_tracked")


def _first_difference(a: dict, b: dict) -> str:
    """The first weight that one state dict lacks or shapes differently, "" when they match
    (BatchNorm statistics only one of them keeps do not count)."""
    for key in sorted(a.keys() | b.keys()):
        if key not in a or key not in b:
            if key.rsplit(".", 1)[-1] not in _STATISTICS:
                return f"{key} only in {'the source' if key in a else 'this run'}"
        elif a[key].shape != b[key].shape:
            return f"{key}: {tuple(a[key].shape)} vs {tuple(b[key].shape)}"
    return ""
