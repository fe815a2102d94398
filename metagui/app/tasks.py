"""Sampled tasks: an N-way K-shot task drawn from the *test* classes of the dataset a checkpoint
was trained on (any dataset of core's registry: Omniglot's Vinyals or Lake split, a folder, …),
with one unseen query. No Qt.

The first task decodes the test classes (tens of seconds for Omniglot). That runs in a child
process (``load_cancellable``), so that closing the window, or a newer request, ends it at once:
a thread cannot be interrupted inside core's decoder, a process can be terminated.
"""

from __future__ import annotations

import multiprocessing
import pickle
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from metagui.app.records import ROTATION_NOTE

__all__ = ["ROTATION_NOTE", "Decoding", "SampledTask", "TaskSource", "character_label"]

#: The child process reports decoding progress at most this often (seconds).
PROGRESS_INTERVAL_S = 0.1


@dataclass(frozen=True)
class TaskSource:
    """Where tasks come from: dataset ``name`` and ``split`` (core's registry), the folder
    ``root`` to load it from, and the preprocessing ``spec`` of the checkpoint (a
    ``PreprocessSpec``: the items arrive as that checkpoint's inputs)."""

    name: str
    split: str | None
    root: Path
    spec: Any

    @property
    def title(self) -> str:
        """The dataset's name in messages ("Omniglot")."""
        from core.data.datasets import dataset_kind

        return dataset_kind(self.name).title or self.name

    @property
    def label(self) -> str:
        """How messages name it: "the vinyals test classes", "the folder test classes"."""
        return f"{self.split if self.name == 'omniglot' and self.split else self.name}"


def task_source(metadata: dict, spec, data_root: Path) -> TaskSource:
    """The test classes of the dataset a checkpoint (``metadata``) was trained on."""
    from core.data.datasets import trained_on

    source = trained_on(metadata)
    return TaskSource(source.name, source.split, source.where(data_root), spec)


def other_sources(spec, data_root: Path) -> list[TaskSource]:
    """Every registered dataset's split whose files are under ``data_root`` and whose images
    ``spec`` can take (a drawing model takes ink datasets only); folders need a folder chosen,
    so they come only as a checkpoint's own data."""
    from core.data.datasets import registered

    found = []
    for kind in registered():
        if kind.has_root or not kind.splits or spec.kind not in kind.kinds:
            continue
        for split in kind.splits:
            source = TaskSource(kind.name, split, Path(data_root), spec)
            if missing_data(source) is None:
                found.append(source)
    return found


def usable_source(source: TaskSource) -> TaskSource:
    """``source``, or for a mix whose files are not all here its first member that is: a
    drawings model samples Omniglot's Lake test alphabets on a machine without the glyph
    caches."""
    from core.data.mix import MIXES

    if source.name not in MIXES or missing_data(source) is None:
        return source
    for name, split in MIXES[source.name]:
        member = TaskSource(name, split, source.root, source.spec)
        if missing_data(member) is None:
            return member
    return source


def missing_data(source: TaskSource) -> str | None:
    """Why tasks of ``source`` cannot be sampled (its files are not there), else None. Cheap:
    file checks only; a damaged file is found when the data is read."""
    from core.data.mix import MIXES
    from core.data.paths import omniglot_set_source

    root = source.root
    if source.name in MIXES:  # a mix (drawings): each member's files
        for name, split in MIXES[source.name]:
            why = missing_data(TaskSource(name, split, root, source.spec))
            if why:
                return why
        return None
    if source.name != "omniglot":
        where = root if source.name == "folder" else root / source.name
        if source.name == "folder" and where.exists():
            return None
        # a dataset folder holding only its class splits (as shipped) has no images yet
        if where.is_dir() and any(child.name != "splits" for child in where.iterdir()):
            return None
        return f"{source.name} data not found under {where} (see README, 'Data')."
    needed = ["evaluation"] if source.split == "lake" else ["background", "evaluation"]
    missing = [f"images_{w}" for w in needed if omniglot_set_source(root, w) is None]
    if source.split != "lake" and not (root / "omniglot/splits/vinyals/test.txt").is_file():
        missing.append("Vinyals split files")
    if not missing:
        return None
    return (
        f"Omniglot data not found ({', '.join(missing)} missing under {root / 'omniglot'}). "
        "Set METAGUI_DATA to a folder holding omniglot/ (see README, 'Data')."
    )


@dataclass(frozen=True)
class Decoding:
    """The test classes of ``split`` (how messages name them: ``TaskSource.label``) are being
    decoded; ``seconds`` since it began. ``done`` of ``total`` images of ``source`` (Omniglot:
    "background" or "evaluation") are decoded; ``total`` is 0 until the first image is
    (starting the process, or reading the cache)."""

    split: str
    seconds: float
    source: str = ""
    done: int = 0
    total: int = 0
    dataset: str = ""  # its title ("Omniglot")


@dataclass(frozen=True)
class SampledTask:
    """An N-way K-shot task from a dataset's test classes and one unseen query."""

    class_names: tuple[str, ...]
    support: Any  # torch (n_way * n_shot, C, S, S) model inputs, grouped by class
    shots: int
    query: Any  # torch (C, S, S)
    query_label: int
    source: TaskSource

    @property
    def rotated(self) -> bool:
        return any("↻" in n for n in self.class_names)


def character_label(name: str) -> str:
    """``"Alphabet_(x)/character05/rot000"`` -> ``"Alphabet (x) 5"`` (rotation when not 0);
    a class name of another dataset is kept as it is."""
    parts = name.split("/")
    if len(parts) < 2 or not parts[1].startswith("character"):
        return name
    alphabet = parts[0].replace("_", " ")
    number = parts[1].removeprefix("character").lstrip("0")
    rot = parts[2] if len(parts) > 2 and parts[2].startswith("rot") else "rot000"
    suffix = "" if rot == "rot000" else f" ↻{int(rot[3:])}°"
    return f"{alphabet} {number}{suffix}".strip()


def sample_task(dataset, source: TaskSource, ways: int, shots: int, seed: int | None = None):
    """A ``SampledTask`` from ``dataset`` (``source``'s test classes, loaded)."""
    import torch

    from core.data.episodes import EpisodeSpec, check_spec, sample_episode

    spec = EpisodeSpec(ways=ways, shots=shots, queries=1)
    check_spec(dataset, spec)
    seed = random.SystemRandom().randrange(2**62) if seed is None else seed
    generator = torch.Generator().manual_seed(seed)
    episode = sample_episode(dataset, spec, generator)
    pick = int(torch.randint(episode.n_way, (1,), generator=generator))
    return SampledTask(
        class_names=tuple(character_label(n) for n in episode.class_names),
        support=episode.support,
        shots=shots,
        query=episode.query[pick],
        query_label=int(episode.query_labels[pick]),
        source=source,
    )


def _load(source: TaskSource, conn) -> None:  # in the child process
    """Send ("progress", part, done, total) messages while decoding, then ("data", dataset) or
    ("error", text)."""
    from core.data.datasets import load_dataset

    last = 0.0

    def progress(part: str, done: int, total: int) -> None:
        nonlocal last
        now = time.monotonic()
        if done == total or now - last >= PROGRESS_INTERVAL_S:
            last = now
            conn.send_bytes(pickle.dumps(("progress", part, done, total)))

    try:
        data = load_dataset(source.name, source.root, "test", source.spec, source.split, progress)
        message = ("data", data)
    except Exception as exc:  # sent back as the message of a ValueError
        message = ("error", str(exc) or type(exc).__name__)
    try:  # plain pickle: the tensors are copied, not shared through file descriptors
        conn.send_bytes(pickle.dumps(message))
    finally:
        conn.close()


def load_cancellable(source: TaskSource) -> Iterator[Decoding | object]:
    """Load ``source``'s test classes in a child process; yields a ``Decoding`` (with the
    child's latest progress) every 0.1 s and on every progress message, then the dataset.
    Closing the generator (a cancelled job) terminates the child at once."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe(duplex=False)
    process = context.Process(target=_load, args=(source, child), daemon=True)
    start = time.perf_counter()
    process.start()
    child.close()
    part, done, total = "", 0, 0
    label, title = source.label, source.title
    stopped = f"reading the {source.name} data stopped (exit code {{}})"
    try:
        while True:
            if not parent.poll(PROGRESS_INTERVAL_S):
                if not process.is_alive() and not parent.poll(0):
                    raise ValueError(stopped.format(process.exitcode))
                yield Decoding(label, time.perf_counter() - start, part, done, total, title)
                continue
            try:
                kind, *payload = pickle.loads(parent.recv_bytes())  # from our own child
            except EOFError:
                raise ValueError(stopped.format(process.exitcode)) from None
            if kind == "progress":
                part, done, total = payload
                yield Decoding(label, time.perf_counter() - start, part, done, total, title)
            elif kind == "error":
                raise ValueError(payload[0])
            else:
                yield payload[0]
                return
    finally:
        if process.is_alive():
            process.terminate()
        process.join(1)
        parent.close()


def sample(dataset, source: TaskSource, ways: int, shots: int) -> Iterator[object]:
    """Load once (``dataset`` None: the loaded dataset is yielded so the GUI thread keeps it),
    then sample a task. The worker gets the dataset itself, never the GUI thread's cache."""
    import contextlib

    if dataset is None:
        with contextlib.closing(load_cancellable(source)) as records:
            for record in records:
                yield record
                if not isinstance(record, Decoding):
                    dataset = record
    yield sample_task(dataset, source, ways, shots)
