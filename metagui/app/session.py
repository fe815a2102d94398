"""What the user has made: classes with their examples, and the query. Plain Python, no Qt.

Every example keeps what it came from (the pen strokes of a drawing, the decoded picture of a
file, or a dataset image) and makes the model input from it with the checkpoint's preprocessing
spec (``core.data.spec.PreprocessSpec``): a drawing becomes ink-normalised grayscale for a drawing
checkpoint and an RGB image for a photo checkpoint, and a photo the reverse.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

if TYPE_CHECKING:  # torch and core load in the background: the window paints before them
    import torch

    from core.data.spec import PreprocessSpec

#: Dropped pictures are kept at most this many pixels on a side (enough for any model input).
PICTURE_SIDE = 256
#: The side of the canvas raster strokes are drawn on (core.data.preprocess.CANVAS_SIZE).
CANVAS_SIZE = 105


@functools.cache
def drawing_spec() -> PreprocessSpec:
    """The preprocessing of the window before a checkpoint is loaded (Omniglot's drawings)."""
    from core.data.spec import PreprocessSpec

    return PreprocessSpec("ink", 28)


def __getattr__(name: str) -> Any:
    if name == "DRAWING_SPEC":  # imported on first use: it needs torch
        return drawing_spec()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

Point = tuple[float, float]
Stroke = tuple[Point, ...]

#: Strokes are stored in a unit square: x, y and the pen width in [0, 1] of the canvas side.
STROKE_EXTENT = 1.0


@dataclass(frozen=True)
class Drawing:
    """Pen strokes in the unit square and the pen width (fraction of the side)."""

    strokes: tuple[Stroke, ...]
    width: float

    def is_empty(self) -> bool:
        return not any(self.strokes)

    def raster(self, canvas: int = CANVAS_SIZE):
        """The drawing as black ink on white, ``canvas`` pixels square (like Omniglot)."""
        from core.data.preprocess import rasterize_strokes

        return rasterize_strokes(self.strokes, self.width, STROKE_EXTENT, canvas)

    def preprocess(self, spec: PreprocessSpec | None = None) -> torch.Tensor:
        """Model input ``(C, S, S)`` made by ``spec`` (default: the drawing spec) from the
        rasterised strokes."""
        return (spec or drawing_spec()).image(self.raster())


def keep_picture(img: Image.Image) -> Image.Image:
    """A copy of a decoded file small enough to keep (``PICTURE_SIDE`` at most, aspect kept)."""
    img = img.copy()
    img.thumbnail((PICTURE_SIDE, PICTURE_SIDE))
    return img


def ink_picture(image: torch.Tensor) -> Image.Image:
    """An ink tensor ``(1, H, W)`` (ink = 1) as black ink on white, the way it was drawn."""
    arr = (1.0 - image[0].clamp(0, 1)).mul(255).round().byte().numpy()
    return Image.fromarray(np.ascontiguousarray(arr), mode="L")


@dataclass(frozen=True)
class Example:
    """One example: ``image`` ``(C, S, S)``, the model input made when it was added (shown as its
    thumbnail when there is no ``picture``); where it came from: ``source`` (text), the pen
    strokes (``drawing``) or the decoded file (``picture``); ``spec``: how ``image`` was made.
    ``input(spec)`` makes (and keeps) the input of any other checkpoint."""

    image: torch.Tensor
    source: str
    drawing: Drawing | None = None
    picture: Image.Image | None = None
    spec: PreprocessSpec | None = None  # None: the drawing spec
    _inputs: dict = field(default_factory=dict, compare=False, repr=False)

    def input(self, spec: PreprocessSpec) -> torch.Tensor:
        """The model input ``(C, S, S)`` under ``spec``."""
        if spec == (self.spec or drawing_spec()):
            return self.image
        if spec not in self._inputs:
            self._inputs[spec] = self._make(spec)
        return self._inputs[spec]

    def _make(self, spec: PreprocessSpec) -> torch.Tensor:
        if self.drawing is not None:
            return self.drawing.preprocess(spec)
        if self.picture is not None:
            return spec.image(self.picture)
        own = self.spec or drawing_spec()
        if own.kind == spec.kind == "ink":  # a dataset image at another size
            return fit_size(self.image, spec.size)
        if own.kind == "ink":
            return spec.image(ink_picture(self.image))
        raise ValueError(f"{self.source}: cannot be shown to a {spec.kind} model")


@dataclass
class TaskClass:
    name: str
    examples: list[Example] = field(default_factory=list)


class SupportError(ValueError):
    """The classes cannot be used as a support set yet; the message says what to do."""


@dataclass(frozen=True)
class SupportSet:
    """``images`` ``(n, C, S, S)``, ``labels`` ``(n,)`` in 0..n_way-1, class names."""

    images: torch.Tensor
    labels: torch.Tensor
    names: tuple[str, ...]


def fit_size(image: torch.Tensor, size: int) -> torch.Tensor:
    """Resize ``(1, H, W)`` to ``(1, size, size)`` when a checkpoint wants another input size."""
    if image.shape[-1] == size and image.shape[-2] == size:
        return image
    import torch.nn.functional as F

    return F.interpolate(image[None], size=(size, size), mode="area")[0]


class Session:
    """The classes the user teaches, in order; ``version`` changes whenever the support does."""

    def __init__(self, class_names: Sequence[str] = ("A", "B", "C")) -> None:
        self.classes: list[TaskClass] = [TaskClass(n) for n in class_names]
        self.version = 0

    def _changed(self) -> None:
        self.version += 1

    def unused_name(self) -> str:
        taken = {c.name for c in self.classes}
        for i in range(26 * 27):
            name = chr(ord("A") + i % 26) + ("" if i < 26 else str(i // 26))
            if name not in taken:
                return name
        return f"Class {len(self.classes) + 1}"

    def add_class(self, name: str | None = None) -> int:
        self.classes.append(TaskClass(name or self.unused_name()))
        self._changed()
        return len(self.classes) - 1

    def insert_class(self, index: int, task_class: TaskClass) -> int:
        """Put ``task_class`` back at ``index`` (clamped to the list); returns where it went."""
        index = max(0, min(index, len(self.classes)))
        self.classes.insert(index, task_class)
        self._changed()
        return index

    def remove_class(self, index: int) -> TaskClass:
        removed = self.classes.pop(index)
        self._changed()
        return removed

    def rename(self, index: int, name: str) -> None:
        """Rename in place; the support tensors do not change, so neither does ``version``."""
        self.classes[index].name = name.strip() or self.classes[index].name

    def add_examples(self, index: int, examples: Sequence[Example]) -> None:
        if examples:
            self.classes[index].examples.extend(examples)
            self._changed()

    def remove_example(self, class_index: int, example_index: int) -> Example:
        removed = self.classes[class_index].examples.pop(example_index)
        self._changed()
        return removed

    def replace(self, classes: Sequence[TaskClass]) -> list[TaskClass]:
        """Swap in a whole new set of classes (a sampled task); return the old ones."""
        old, self.classes = self.classes, list(classes)
        self._changed()
        return old

    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.classes)

    def support_set(self, spec: PreprocessSpec | None = None) -> SupportSet:
        """The support tensors (``spec`` default: the drawing spec); raise SupportError naming
        what is missing."""
        import torch

        spec = spec or drawing_spec()
        if len(self.classes) < 2:
            raise SupportError("At least two classes are needed: add a class with ＋ Add class.")
        empty = [c.name for c in self.classes if not c.examples]
        if empty:
            listed = ", ".join(f"“{n}”" for n in empty)
            raise SupportError(
                f"Class {listed} has no examples yet: draw one and press “Add to class”, "
                "drop an image on it, or remove the class."
                if len(empty) == 1
                else f"Classes {listed} have no examples yet: add an example to each, "
                "or remove them."
            )
        images, labels = [], []
        for label, task_class in enumerate(self.classes):
            for example in task_class.examples:
                images.append(example.input(spec))
                labels.append(label)
        return SupportSet(torch.stack(images), torch.tensor(labels), self.names())
