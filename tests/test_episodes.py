"""Episode plans: earlier releases' Omniglot episodes, uneven classes, workers, resume."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.data.base import InMemoryDataset, class_layout
from core.data.episodes import (
    EpisodeSpec,
    EpisodeStream,
    build_episode,
    episodes,
    sample_episode,
    sample_plan,
)
from core.data.folder import load_folder
from core.data.spec import PreprocessSpec
from core.data.splits import load_split


def old_sample_episode(bank, spec: EpisodeSpec, generator: torch.Generator):
    """The sampler of earlier releases, verbatim but for the returned tuple."""
    if spec.within_alphabet:
        counts = torch.bincount(bank.alphabet_ids, minlength=len(bank.alphabets))
        eligible = torch.nonzero(counts >= spec.ways).flatten()
        alphabet = eligible[torch.randint(len(eligible), (1,), generator=generator)]
        pool = torch.nonzero(bank.alphabet_ids == alphabet).flatten()
        classes = pool[torch.randperm(len(pool), generator=generator)[: spec.ways]]
    else:
        classes = torch.randperm(bank.n_classes, generator=generator)[: spec.ways]
    n_drawers = bank.images.shape[1]
    per_class = spec.shots + spec.queries
    if spec.shared_drawers:
        drawers = torch.randperm(n_drawers, generator=generator)[:per_class].expand(
            spec.ways, per_class
        )
    else:
        drawers = torch.argsort(torch.rand(spec.ways, n_drawers, generator=generator), dim=1)
        drawers = drawers[:, :per_class]
    picked = bank.images[classes.unsqueeze(1), drawers].float().div_(255.0)
    shape = picked.shape[2:]
    support = picked[:, : spec.shots].reshape(-1, *shape)
    query = picked[:, spec.shots :].reshape(-1, *shape)
    return support, query, tuple(bank.names[int(c)] for c in classes)


SPECS = [
    EpisodeSpec(5, 1, 15),
    EpisodeSpec(20, 5, 5),
    EpisodeSpec(5, 1, 1, within_alphabet=True, shared_drawers=True),
    EpisodeSpec(3, 2, 3, within_alphabet=True),
    EpisodeSpec(4, 1, 2, shared_drawers=True),
]


def _same_as_old(bank, spec: EpisodeSpec, n: int, seed: int) -> None:
    old, new = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
    for _ in range(n):
        support, query, names = old_sample_episode(bank, spec, old)
        ep = sample_episode(bank, spec, new)
        assert ep.class_names == names
        assert torch.equal(ep.support, support) and torch.equal(ep.query, query)
    assert torch.equal(old.get_state(), new.get_state())  # exactly the same generator calls


@pytest.mark.parametrize("spec", SPECS)
def test_omniglot_episodes_are_those_of_earlier_releases(tiny_root, spec):
    bank = load_split(tiny_root, "lake", "test" if spec.within_alphabet else "trainval")
    _same_as_old(bank, spec, 8, seed=1234)


@pytest.mark.data
def test_real_omniglot_episodes_are_those_of_earlier_releases(omniglot_root):
    bank = load_split(omniglot_root, "vinyals", "test")
    _same_as_old(bank, EpisodeSpec(5, 1, 15), 20, seed=1234)
    _same_as_old(bank, EpisodeSpec(20, 5, 5), 5, seed=0)
    lake = load_split(omniglot_root, "lake", "test")
    _same_as_old(lake, EpisodeSpec(20, 1, 1, within_alphabet=True, shared_drawers=True), 10, 1)


def uneven(counts: list[int]) -> InMemoryDataset:
    """Class ``c`` has ``counts[c]`` 1x8x8 images; every pixel of item ``i`` equals ``i``."""
    offsets, sizes = class_layout(counts)
    n = int(sizes.sum())
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 1, 8, 8).contiguous()
    return InMemoryDataset(
        name="toy",
        split="toy",
        subset="all",
        root=Path("."),
        names=tuple(f"c{i}" for i in range(len(counts))),
        offsets=offsets,
        counts=sizes,
        preprocess=PreprocessSpec("ink", 8),
        images=images,
    )


def test_uneven_classes_draw_valid_distinct_items():
    ds = uneven([3, 9, 4, 1, 6, 2, 5])
    spec = EpisodeSpec(ways=3, shots=2, queries=1)
    gen = torch.Generator().manual_seed(0)
    seen = set()
    for _ in range(200):
        plan = sample_plan(ds, spec, gen)
        for c, row in zip(plan.classes.tolist(), plan.index.tolist()):
            start, count = int(ds.offsets[c]), int(ds.counts[c])
            assert count >= 3, "a class too small for the episode was drawn"
            assert all(start <= i < start + count for i in row) and len(set(row)) == 3
            seen.update(row)
        ep = build_episode(ds, plan)
        assert torch.equal(
            (ep.support[:, 0, 0, 0] * 255).round().long(), plan.index[:, :2].reshape(-1)
        )
    big = {i for c in (0, 1, 2, 4, 6) for i in range(ds.offsets[c], ds.offsets[c] + ds.counts[c])}
    assert seen == big  # every item of every usable class is reachable, nothing else


def test_stream_without_workers_continues_episodes():
    ds = uneven([5] * 6)
    spec = EpisodeSpec(ways=3, shots=1, queries=2)
    fixed = list(episodes(ds, spec, 5, seed=9))
    stream = EpisodeStream(ds, spec, seed=9)
    for a in fixed:
        b = stream.next()
        assert a.class_names == b.class_names and torch.equal(a.query, b.query)


def _jpeg_folder(root: Path, classes: int = 5, per_class: int = 6) -> Path:
    rng = np.random.default_rng(0)
    for c in range(classes):
        (root / f"k{c}").mkdir(parents=True)
        for i in range(per_class):
            arr = rng.integers(0, 256, size=(24, 24, 3), dtype=np.uint8)
            Image.fromarray(arr).save(root / f"k{c}" / f"{i}.jpg")
    return root


def _equal(a, b) -> bool:
    return (
        a.class_names == b.class_names
        and torch.equal(a.support, b.support)
        and torch.equal(a.query, b.query)
        and torch.equal(a.support_labels, b.support_labels)
        and torch.equal(a.query_labels, b.query_labels)
    )


@pytest.fixture(scope="module")
def lazy(tmp_path_factory):
    root = _jpeg_folder(tmp_path_factory.mktemp("jpegs"))
    return load_folder(root, "all", PreprocessSpec("rgb", 16))


def test_same_episodes_with_and_without_workers(lazy):
    spec = EpisodeSpec(ways=3, shots=2, queries=2)
    plain = list(episodes(lazy, spec, 6, seed=4))
    workers = list(episodes(lazy, spec, 6, seed=4, workers=2))
    assert len(workers) == 6 and all(_equal(a, b) for a, b in zip(plain, workers))
    assert plain[0].support.shape == (6, 3, 16, 16) and plain[0].support.dtype == torch.float32
    assert plain[0].query_labels.tolist() == [0, 0, 1, 1, 2, 2]


def test_stream_resumes_exactly_despite_prefetching(lazy):
    spec = EpisodeSpec(ways=2, shots=1, queries=3)
    with EpisodeStream(lazy, spec, seed=11, workers=2) as stream:
        first = [stream.next() for _ in range(3)]
        state = stream.state_dict()
        rest = [stream.next() for _ in range(4)]
    reference = EpisodeStream(lazy, spec, seed=11)
    assert all(_equal(a, reference.next()) for a in first + rest)
    for workers in (0, 2):
        resumed = EpisodeStream(lazy, spec, seed=999, workers=workers)
        resumed.load_state_dict(state)
        assert all(_equal(a, resumed.next()) for a in rest)
        resumed.close()
    bare = EpisodeStream(lazy, spec, seed=0)
    bare.load_state_dict(state["generator"])  # earlier releases stored the bare generator state
    assert _equal(bare.next(), rest[0])
    # resuming in the middle of a running stream drops what the workers had drawn ahead
    with EpisodeStream(lazy, spec, seed=11, workers=2) as stream:
        stream.next()
        stream.load_state_dict(state)
        assert _equal(stream.next(), rest[0])


def test_in_memory_datasets_ignore_workers():
    ds = uneven([4] * 4)
    stream = EpisodeStream(ds, EpisodeSpec(2, 1, 1), seed=0, workers=2)
    assert stream.workers == 0
    with pytest.raises(ValueError, match="workers"):
        list(episodes(ds, EpisodeSpec(2, 1, 1), 1, seed=0, workers=-1))


def test_bad_specs_are_refused():
    ds = uneven([2, 2, 3])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="ways >= 2"):
            EpisodeStream(ds, EpisodeSpec(1, 1, 1), seed=0)
        with pytest.raises(ValueError, match="exceeds the 3 images per class"):
            list(episodes(ds, EpisodeSpec(2, 2, 2), 1, seed=0))
        with pytest.raises(ValueError, match="need alphabets"):
            list(episodes(ds, EpisodeSpec(2, 1, 1, within_alphabet=True), 1, seed=0))
