"""The generators a learner's worker thread runs: load a checkpoint, adapt, classify, map, decode
files. Each returns an iterator of the screen records of ``metagui.app.records`` (numpy on the
CPU); nothing here touches Qt. Imported on the worker thread: it pulls in torch and core.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from core.algorithms.base import Classifier, Learner
from core.checkpoint import load_checkpoint
from core.data.preprocess import ImageError, load_image
from core.data.spec import PreprocessSpec
from core.embedding_map import Projection
from metagui.app.openset import OpenSetJob, answer, read_openset
from metagui.app.records import (
    Loaded,
    MapUpdate,
    MemoryView,
    Prediction,
    SimilarityView,
    Step,
)
from metagui.app.session import Drawing, Example, SupportSet, drawing_spec, keep_picture


def query_tensor(query: Drawing | Sequence[Example], spec: PreprocessSpec) -> torch.Tensor | None:
    """``(n_query, C, S, S)`` from a drawing or examples, made by ``spec``; None if empty."""
    if isinstance(query, Drawing):
        return None if query.is_empty() else query.preprocess(spec)[None]
    if not query:
        return None
    return torch.stack([example.input(spec) for example in query])


def load_learner(path: Path, device: torch.device) -> Iterator[Loaded]:
    """Load a checkpoint and its open-set calibration file."""
    checkpoint = load_checkpoint(path, device)
    yield Loaded(Path(path), checkpoint, read_openset(path, checkpoint.learner))


def adapt(
    learner: Learner,
    spec: PreprocessSpec,
    support: SupportSet,
    query: Drawing | Sequence[Example],
    steps: int | None,
    lr: float | None,
    device: torch.device,
    fit_map: bool = False,
    openset: OpenSetJob | None = None,
) -> Iterator[Step | MapUpdate | MemoryView | SimilarityView]:
    """Run ``learner.adapt`` on ``device``: one ``Step`` per inner-loop step (``steps``/``lr``
    None: the learner's own), then the learner's live view if it has one, then with ``fit_map``
    the embedding map. With ``openset`` (open-set answers on), the last step's probabilities and
    "none of these" flags come from ``openset.answer``."""
    start = time.perf_counter()
    queries = query_tensor(query, spec)
    queries = None if queries is None else queries.to(device)
    images, labels = support.images.to(device), support.labels.to(device)
    classifier = None
    for record in learner.adapt(images, labels, queries, steps=steps, lr=lr):
        classifier = record.classifier
        probs, rejected, rejector = record.query_probs, None, None
        if openset is not None and probs is not None and record.step == record.total_steps:
            probs, rejected, rejector = answer(openset, classifier, queries)
        yield Step(
            step=record.step,
            total_steps=record.total_steps,
            loss=record.loss,
            support_accuracy=record.support_accuracy,
            probs=None if probs is None else probs.cpu().numpy(),
            elapsed=time.perf_counter() - start,
            rejected=rejected,
            classifier=classifier,
            rejector=rejector,
        )
    if classifier is not None and learner.capabilities.live_view:
        yield learner_view(learner, classifier, labels, support.names, queries)
    if fit_map:  # after the bars' records: never delaying them
        yield embedding(learner, support, None, queries, device)


def classify(
    classifier: Classifier,
    query: Drawing | Sequence[Example],
    query_version: int,
    spec: PreprocessSpec,
    device: torch.device,
    support: SupportSet,
    openset: OpenSetJob | None = None,
    view_of: Learner | None = None,
    map_of: Learner | None = None,
    projection: Projection | None = None,
) -> Iterator[Prediction | MapUpdate | MemoryView | SimilarityView]:
    """The query's ``Prediction`` under an adapted classifier (no re-adaptation), with
    ``openset`` its "none of these" flags; then with ``view_of`` (the learner) its live view,
    and with ``map_of`` the map (``projection`` None: fitted to ``support``)."""
    start = time.perf_counter()
    queries = query_tensor(query, spec)
    if queries is None:
        return
    queries = queries.to(device)
    probs, rejected, rejector = answer(openset, classifier, queries)
    yield Prediction(
        probs=probs.cpu().numpy(),
        names=support.names,
        query_version=query_version,
        elapsed=time.perf_counter() - start,
        rejected=rejected,
        rejector=rejector,
    )
    if view_of is not None and view_of.capabilities.live_view:
        labels = support.labels.to(device)
        yield learner_view(view_of, classifier, labels, support.names, queries)
    if map_of is not None:
        yield embedding(map_of, support, projection, queries, device)


def map_only(
    learner: Learner,
    support: SupportSet,
    projection: Projection | None,
    query: Drawing | Sequence[Example],
    spec: PreprocessSpec,
    device: torch.device,
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
    device: torch.device,
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


def learner_view(
    learner: Learner,
    classifier: Classifier,
    support_labels: torch.Tensor,
    names: tuple[str, ...],
    queries: torch.Tensor | None,
) -> MemoryView | SimilarityView | None:
    """The view ``learner.capabilities.live_view`` names for ``classifier`` (adapted to a
    support set with ``support_labels``) and ``queries`` (preprocessed, on its device): MANN's
    memory, Siamese similarities or MetaNet's memory attention."""
    kind = learner.capabilities.live_view
    with torch.no_grad():
        if kind == "memory":
            trace = classifier.trace
            labels = support_labels.cpu()[torch.tensor([s.index for s in trace])]
            reads = None
            if queries is not None:
                reads = classifier.read_weights(queries).sum(1).cpu().numpy()
            return MemoryView(
                read=torch.stack([s.read_weights.sum(0) for s in trace]).cpu().numpy(),
                write=torch.stack([s.write_weights.sum(0) for s in trace]).cpu().numpy(),
                labels=labels.numpy(),
                usage=trace[-1].usage.cpu().numpy(),
                query_read=reads,
                names=names,
                heads=int(trace[-1].read_weights.shape[0]),
            )
        if kind in ("similarity", "attention"):
            sims = None
            if queries is not None:
                scores = classifier.similarities if kind == "similarity" else classifier.attention
                sims = scores(queries).cpu().numpy()
            return SimilarityView(sims, support_labels.cpu().numpy(), names)
    return None


@dataclass(frozen=True)
class LoadedFile:
    """A decoded file as an example (preprocessed by the checkpoint's spec), or the reason it
    could not be used."""

    path: Path
    example: Example | None
    error: str | None


def load_files(
    paths: Sequence[Path], spec: PreprocessSpec | None = None
) -> Iterator[list[LoadedFile]]:
    """Decode and preprocess image files with ``spec`` (default: the drawing spec); bad ones are
    reported, never raised."""
    spec = spec or drawing_spec()
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
