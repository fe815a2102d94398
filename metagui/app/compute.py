"""The generators the worker threads run: adaptation, classification, checkpoint, data, files.

Each function returns an iterator of small frozen records; nothing here touches Qt widgets.
Tensors handed back to the GUI are plain numpy arrays on the CPU.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.algorithms.base import Classifier, Learner
from core.checkpoint import Checkpoint, load_checkpoint
from core.data.episodes import EpisodeSpec, check_spec, sample_episode
from core.data.preprocess import ImageError, load_image
from core.data.spec import PreprocessSpec
from core.data.splits import ClassBank, load_split
from core.embedding_map import Projection
from core.openset import Calibration
from core.openset.rejector import Rejector
from metagui.app.learner_views import learner_view
from metagui.app.openset import OpenSetState, read_openset
from metagui.app.session import DRAWING_SPEC, Drawing, Example, SupportSet, keep_picture


@dataclass(frozen=True)
class MapUpdate:
    """2-D embedding map of a support set (and query) as the GUI draws it; numpy on the CPU.
    ``projection``: the PCA fitted to the support set, reused for the next queries."""

    support: np.ndarray  # (n_support, 2)
    labels: np.ndarray  # (n_support,)
    centres: np.ndarray  # (n_way, 2)
    query: np.ndarray | None  # (n_query, 2)
    explained: np.ndarray  # (2,) share of the support variance along each axis
    names: tuple[str, ...]
    projection: Projection | None = None


@dataclass(frozen=True)
class AdaptUpdate:
    """One adaptation step as the GUI shows it; ``probs`` ``(n_query, n_way)`` or None;
    ``rejected`` ``(n_query,)`` bool ("none of these") on the last step when open-set answers
    are on, with the ``rejector`` fitted for it (cached for the next queries)."""

    step: int
    total_steps: int
    loss: float
    support_accuracy: float
    probs: np.ndarray | None
    classifier: Classifier
    elapsed: float
    rejected: np.ndarray | None = None
    rejector: Rejector | None = None


@dataclass(frozen=True)
class Prediction:
    """Query class probabilities ``(n_query, n_way)`` from an already adapted classifier;
    ``rejected``/``rejector`` as in ``AdaptUpdate``."""

    probs: np.ndarray
    elapsed: float
    rejected: np.ndarray | None = None
    rejector: Rejector | None = None


@dataclass(frozen=True)
class OpenSetJob:
    """Open-set answers asked of a classify job: the checkpoint's ``calibration``, its
    ``learner`` and the ``support`` set; ``rejector``: already fitted to it, else None."""

    calibration: Calibration
    learner: Learner
    support: SupportSet
    rejector: Rejector | None = None


def fit_rejector(job: OpenSetJob, classifier: Classifier, device) -> Rejector:
    """The job's calibration fitted to its support set (on ``device``) and ``classifier``."""
    images, labels = job.support.images.to(device), job.support.labels.to(device)
    return Rejector.fit(job.calibration, job.learner, images, labels, classifier)


def open_set(
    job: OpenSetJob | None, classifier: Classifier, queries: torch.Tensor, probs: torch.Tensor
) -> tuple[np.ndarray | None, Rejector | None]:
    """``(rejected (n_query,) bool, rejector)`` for ``queries`` (on the classifier's device),
    fitting the rejector to the support set when the job has none; ``(None, None)`` without
    a job."""
    if job is None:
        return None, None
    rejector = job.rejector or fit_rejector(job, classifier, queries.device)
    flags = rejector.reject(queries, probs, classifier)
    return (None if flags is None else flags.cpu().numpy()), rejector


def query_tensor(query: Drawing | Sequence[Example], spec: PreprocessSpec) -> torch.Tensor | None:
    """``(n_query, C, S, S)`` from a drawing or examples, made by ``spec``; None if empty."""
    if isinstance(query, Drawing):
        return None if query.is_empty() else query.preprocess(spec)[None]
    if not query:
        return None
    return torch.stack([example.input(spec) for example in query])


def adapt(
    learner: Learner,
    spec: PreprocessSpec,
    support: SupportSet,
    query: Drawing | Sequence[Example],
    steps: int | None,
    lr: float | None,
    device: torch.device,
    fit_map: bool = False,
    calibration: Calibration | None = None,
) -> Iterator[AdaptUpdate | MapUpdate]:
    """Run ``learner.adapt`` on ``device``; one AdaptUpdate per step (``steps``/``lr`` None:
    the learner's own), then the learner's live view if it has one (``learner_views``). With
    ``fit_map``, a MapUpdate follows. With ``calibration`` (open-set answers on), the last
    step says which queries are rejected."""
    start = time.perf_counter()
    queries = query_tensor(query, spec)
    queries = None if queries is None else queries.to(device)
    records = learner.adapt(
        support.images.to(device), support.labels.to(device), queries, steps=steps, lr=lr
    )
    classifier = None
    for record in records:
        probs = None if record.query_probs is None else record.query_probs.cpu().numpy()
        classifier = record.classifier
        rejected = rejector = None
        if calibration is not None and probs is not None and record.step == record.total_steps:
            job = OpenSetJob(calibration, learner, support)
            rejected, rejector = open_set(job, record.classifier, queries, record.query_probs)
        yield AdaptUpdate(
            step=record.step,
            total_steps=record.total_steps,
            loss=record.loss,
            support_accuracy=record.support_accuracy,
            probs=probs,
            classifier=classifier,
            elapsed=time.perf_counter() - start,
            rejected=rejected,
            rejector=rejector,
        )
    if classifier is not None and learner.capabilities.live_view:
        labels = support.labels.to(device)
        yield learner_view(learner, classifier, labels, support.names, queries)
    if fit_map:  # after the bars' records: never delaying them
        yield embedding(learner, support, None, queries, device)


def classify(
    classifier: Classifier,
    query: Drawing | Sequence[Example],
    spec: PreprocessSpec,
    device,
    learner: Learner | None = None,
    support: SupportSet | None = None,
    projection: Projection | None = None,
    openset: OpenSetJob | None = None,
    view_of: Learner | None = None,
) -> Iterator[Prediction | MapUpdate]:
    """Probabilities of the query under an adapted classifier (no re-adaptation needed), and
    with ``openset`` which queries are rejected; with ``view_of`` (the learner) and
    ``support``, its live view follows; with ``learner`` and ``support``, a MapUpdate
    follows."""
    start = time.perf_counter()
    queries = query_tensor(query, spec)
    if queries is None:
        return
    queries = queries.to(device)
    rejected = rejector = None
    with torch.no_grad():
        if openset is None:
            logits = classifier.logits(queries)
        else:
            rejector = openset.rejector or fit_rejector(openset, classifier, queries.device)
            logits, flags = rejector.decide(queries, classifier)
            rejected = flags.cpu().numpy()
        probs = torch.softmax(logits, dim=1)
    yield Prediction(probs.cpu().numpy(), time.perf_counter() - start, rejected, rejector)
    if view_of is not None and view_of.capabilities.live_view and support is not None:
        labels = support.labels.to(device)
        yield learner_view(view_of, classifier, labels, support.names, queries)
    if learner is not None and support is not None:
        yield embedding(learner, support, projection, queries, device)


def map_only(
    learner: Learner,
    support: SupportSet,
    projection: Projection | None,
    query: Drawing | Sequence[Example],
    spec: PreprocessSpec,
    device,
) -> Iterator[MapUpdate]:
    """The map of ``support`` with ``query`` on it, without classifying."""
    queries = query_tensor(query, spec)
    yield embedding(
        learner, support, projection, None if queries is None else queries.to(device), device
    )


def embedding(
    learner: Learner,
    support: SupportSet,
    projection: Projection | None,
    queries: torch.Tensor | None,
    device,
) -> MapUpdate:
    """The map of ``support`` (fitting ``projection`` when None) with ``queries`` (already
    preprocessed, on ``device``) projected onto it."""
    if projection is None:
        projection = Projection(learner, support.images.to(device), support.labels.to(device))
    found = projection.map(queries)
    return MapUpdate(
        support=found.support.cpu().numpy(),
        labels=support.labels.cpu().numpy(),
        centres=found.centres.cpu().numpy(),
        query=None if found.query is None else found.query.cpu().numpy(),
        explained=found.explained.cpu().numpy(),
        names=support.names,
        projection=projection,
    )


def load(path: Path, device: torch.device) -> Iterator[Checkpoint]:
    """Load a checkpoint off the GUI thread."""
    yield load_checkpoint(path, device)


@dataclass(frozen=True)
class LoadedLearner:
    """A checkpoint and its open-set calibration (or why there is none)."""

    checkpoint: Checkpoint
    openset: OpenSetState


def load_learner(path: Path, device: torch.device) -> Iterator[LoadedLearner]:
    """Load a checkpoint and its calibration file off the GUI thread."""
    checkpoint = load_checkpoint(path, device)
    yield LoadedLearner(checkpoint, read_openset(path, checkpoint.learner))


@dataclass(frozen=True)
class LoadedFile:
    """A decoded file as an example (preprocessed by the checkpoint's spec), or the reason it
    could not be used."""

    path: Path
    example: Example | None
    error: str | None


def load_files(
    paths: Sequence[Path], spec: PreprocessSpec = DRAWING_SPEC
) -> Iterator[list[LoadedFile]]:
    """Decode and preprocess image files with ``spec``; bad ones are reported, never raised."""
    results = []
    for path in paths:
        try:
            picture = load_image(path)
            image = spec.image(picture)
            if spec.kind == "ink" and float(image.max()) == 0.0:
                raise ImageError(f"{path.name}: the image is blank (no ink found)")
            example = Example(image, str(path), picture=keep_picture(picture), spec=spec)
            results.append(LoadedFile(path, example, None))
        except ImageError as exc:
            message = str(exc).replace(str(path), path.name)
            results.append(LoadedFile(path, None, message))
    yield results


@dataclass(frozen=True)
class SampledTask:
    """An N-way K-shot task from Omniglot's evaluation alphabets and one unseen query."""

    class_names: tuple[str, ...]
    support: torch.Tensor  # (n_way * n_shot, 1, size, size), grouped by class
    shots: int
    query: torch.Tensor  # (1, size, size)
    query_label: int
    split: str


#: What the rotation suffix of ``character_label`` means, for tooltips and legends.
ROTATION_NOTE = "↻90°, ↻180°, ↻270°: the character rotated by that angle, a class of its own"


def character_label(name: str) -> str:
    """``"Alphabet_(x)/character05/rot000"`` -> ``"Alphabet (x) 5"`` (rotation when not 0)."""
    parts = name.split("/")
    alphabet = parts[0].replace("_", " ")
    number = parts[1].removeprefix("character").lstrip("0") if len(parts) > 1 else ""
    rot = parts[2] if len(parts) > 2 else "rot000"
    suffix = "" if rot == "rot000" else f" ↻{int(rot[3:])}°"
    return f"{alphabet} {number}{suffix}".strip()


def sample_task(
    banks: dict[tuple[str, str], ClassBank],
    root: Path,
    split: str,
    ways: int,
    shots: int,
    seed: int | None = None,
) -> Iterator[object]:
    """Load (once, cached in ``banks``) the test classes of ``split`` and sample a task.

    Yields the string ``"loading"`` first when the data has to be read, then a SampledTask.
    """
    key = (str(root), split)
    if key not in banks:
        yield "loading"
        banks[key] = load_split(root, split, "test")
    bank = banks[key]
    spec = EpisodeSpec(ways=ways, shots=shots, queries=1)
    check_spec(bank, spec)
    seed = random.SystemRandom().randrange(2**62) if seed is None else seed
    generator = torch.Generator().manual_seed(seed)
    episode = sample_episode(bank, spec, generator)
    pick = int(torch.randint(episode.n_way, (1,), generator=generator))
    yield SampledTask(
        class_names=tuple(character_label(n) for n in episode.class_names),
        support=episode.support,
        shots=shots,
        query=episode.query[pick],
        query_label=int(episode.query_labels[pick]),
        split=split,
    )
