"""Datasets chosen by name through one registry: ``load_dataset(name, root, subset, preprocess,
split)``.

| name           | root holds                                              | default preprocess |
|----------------|---------------------------------------------------------|--------------------|
| omniglot       | ``omniglot/`` (zips or folders, ``splits/vinyals``)     | ink 28             |
| miniimagenet   | ``miniimagenet/`` (``images/`` + Ravi CSVs, or folders) | rgb 84             |
| cifar-fs       | ``cifar-fs/cifar-100-python/`` (or ``cifar-100-python``) | rgb 32             |
| folder         | class sub-folders itself (or ``train/ val/ test/``)     | rgb 84 or ink 28   |
| glyphs         | ``glyphs/glyphs-<size>.npz`` (``core.data.glyphs build``) | ink 28           |
| kanjivg        | ``kanjivg/kanjivg-<size>.npz`` (the same build)         | ink 28             |
| drawings       | omniglot + glyphs + kanjivg (``core.data.mix``)          | ink 28             |

``split`` chooses among a dataset's class splits: Omniglot ``vinyals`` (default) or ``lake``; the
others have one (``ravi``, ``bertinetto``, ``disjoint`` for glyphs and kanjivg: held-out
characters and font families, ``lake`` for drawings; a folder ``folders`` or ``seeded`` by its
layout) and accept None or that name.

A new dataset is one ``register(DatasetKind(...))`` call: training, evaluation, the open-set
calibration, weight averaging and the window's task sampler all find it here. Which dataset a
checkpoint was trained on is ``trained_on(metadata)``, the one place that reads it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.data.base import FewShotDataset
from core.data.preprocess import DEFAULT_SIZE
from core.data.spec import PreprocessSpec

MINIIMAGENET_SIZE = 84


@dataclass(frozen=True)
class DatasetKind:
    """One dataset the registry serves.

    ``splits``: its class splits, the default first; ``None`` for a folder, whose split its layout
    decides (``split_of``). ``load(root, subset, spec, split)`` and ``default_preprocess(root)``
    import their module on first use, so the registry is cheap to import.
    ``kinds``: the preprocessing kinds it can serve (``ink``, ``rgb``).
    ``has_root``: its classes live where the user pointed (a folder): a checkpoint records it.
    ``reports_progress``: ``load`` takes ``progress=callback(which, done, total)`` and calls it
    while decoding (the window shows a progress bar the first time).
    """

    name: str
    summary: str
    splits: tuple[str, ...] | None
    load: Callable[[Path, str, PreprocessSpec, str | None], FewShotDataset]
    default_preprocess: Callable[[Path], PreprocessSpec]
    kinds: frozenset[str] = frozenset({"ink", "rgb"})
    has_root: bool = False
    split_of: Callable[[Path], str] | None = None
    reports_progress: bool = False
    title: str = ""  # how messages name it ("Omniglot"); default: its name


_REGISTRY: dict[str, DatasetKind] = {}


def register(kind: DatasetKind) -> DatasetKind:
    """Add ``kind`` to the registry (a second kind of the same name is a ValueError)."""
    if kind.name in _REGISTRY:
        raise ValueError(f"dataset {kind.name!r} is registered already")
    _REGISTRY[kind.name] = kind
    return kind


def dataset_kind(name: str) -> DatasetKind:
    """The registered dataset ``name`` (ValueError naming the choices otherwise)."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown dataset {name!r}; choose one of {', '.join(_REGISTRY)}"
        ) from None


def registered() -> tuple[DatasetKind, ...]:
    """Every registered dataset, in registration order."""
    return tuple(_REGISTRY.values())


def default_preprocess(name: str, root: Path) -> PreprocessSpec:
    """The preprocessing a dataset is trained with unless told otherwise.

    omniglot ink 28, miniimagenet rgb 84, cifar-fs rgb 32; folder: ink 28 when the sampled images
    are all grayscale or 1-bit (drawings), else rgb 84 (ImageNet mean/std for rgb).
    """
    return dataset_kind(name).default_preprocess(Path(root).expanduser())


def resolve_split(name: str, root: Path, split: str | None) -> str | None:
    """The split ``split`` names for dataset ``name`` (its default for None); ValueError when the
    dataset has no such split."""
    kind = dataset_kind(name)
    if kind.splits is None:
        own = kind.split_of(Path(root)) if kind.split_of else None
        if split is not None and own is not None and split != own:
            raise ValueError(f"dataset {name} has the one split {own!r}, not {split!r}")
        return own
    if split is None:
        return kind.splits[0]
    if split not in kind.splits:
        if len(kind.splits) == 1:
            raise ValueError(f"dataset {name} has the one split {kind.splits[0]!r}, not {split!r}")
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(kind.splits)}")
    return split


def split_label(name: str, split: str | None) -> str:
    """How a message names the classes: the split of a dataset with several, else its name."""
    kind = _REGISTRY.get(name)
    several = kind is not None and kind.splits is not None and len(kind.splits) > 1
    return split if several and split else name


def load_dataset(
    name: str,
    root: Path,
    subset: str,
    preprocess: PreprocessSpec | None = None,
    split: str | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> FewShotDataset:
    """The ``subset`` (train, val, test, trainval) of dataset ``name`` under ``root``.

    ``preprocess``: the spec items are decoded with (default: ``default_preprocess``);
    ``progress(which, done, total)``: told while a dataset that reports progress decodes.
    Raises ValueError or DataNotFoundError with a one-line reason.
    """
    kind = dataset_kind(name)
    root = Path(root).expanduser()
    spec = preprocess or kind.default_preprocess(root)
    split = resolve_split(name, root, split)
    if spec.kind not in kind.kinds:
        served = " or ".join(sorted(kind.kinds))
        raise ValueError(f"{name} is served as {served} images; choose a preprocess of that kind")
    if progress is not None and kind.reports_progress:
        return kind.load(root, subset, spec, split, progress=progress)
    return kind.load(root, subset, spec, split)


@dataclass(frozen=True)
class DataSource:
    """Where a checkpoint's training classes came from: dataset ``name``, its ``split``, and for
    a dataset living where the user pointed (a folder) its ``root``."""

    name: str
    split: str | None
    root: str | None = None

    def where(self, data_root: Path, root_given: bool = False) -> Path:
        """The folder to load this source from: ``data_root``, or the recorded folder of a folder
        dataset unless the user gave ``--data-root``."""
        if self.root and not root_given and dataset_kind(self.name).has_root:
            return Path(self.root)
        return Path(data_root)

    def load(self, data_root: Path, subset: str, preprocess: PreprocessSpec | None = None,
             root_given: bool = False, progress=None) -> FewShotDataset:  # fmt: skip
        """``subset`` of the same dataset and split the checkpoint was trained on."""
        where = self.where(data_root, root_given)
        return load_dataset(self.name, where, subset, preprocess, self.split, progress)


def trained_on(metadata: dict) -> DataSource:
    """The dataset and split a checkpoint (its metadata) was trained on.

    Checkpoints that record no dataset predate the others and were trained on Omniglot; the
    split of a dataset with one split is that split.
    """
    data = metadata.get("dataset") if isinstance(metadata, dict) else None
    data = data if isinstance(data, dict) else {}
    name = data.get("name") if isinstance(data.get("name"), str) else "omniglot"
    root = data.get("root") if isinstance(data.get("root"), str) else None
    kind = _REGISTRY.get(name)
    recorded = metadata.get("split") if isinstance(metadata, dict) else None
    if not isinstance(recorded, str):
        recorded = data.get("split") if isinstance(data.get("split"), str) else None
    if kind is not None and kind.splits is not None:
        split = recorded if recorded in kind.splits else kind.splits[0]
    else:
        split = None  # a folder: its layout decides when it is loaded again
    return DataSource(name, split, root)


_SPLIT_WORDS = {("omniglot", "vinyals"): "Omniglot (Vinyals)",
                ("omniglot", "lake"): "Omniglot background"}  # fmt: skip


def _one_source(data: dict) -> tuple[str, str]:
    """(short, long) names of one recorded dataset (a ``describe()`` dict)."""
    name = data.get("name") if isinstance(data.get("name"), str) else "omniglot"
    split = data.get("split") if isinstance(data.get("split"), str) else None
    kind = _REGISTRY.get(name)
    short = _SPLIT_WORDS.get((name, split)) or (kind.title if kind and kind.title else name)
    if name == "folder":
        root = data.get("root") if isinstance(data.get("root"), str) else ""
        short = f"folder {Path(root).name}" if root else "a folder"
    elif name == "glyphs":
        short = "fonts"
    elif name == "kanjivg":
        short = "KanjiVG"
    n = data.get("n_classes")
    families = data.get("families")
    detail = []
    if isinstance(n, int) and not isinstance(n, bool):
        detail.append(f"{n:,} training classes")
    if isinstance(families, list) and families:
        detail.append(f"{len(families):,} font families")
    where = f"{name}, {split} split" if split else name
    if name == "folder" and isinstance(data.get("root"), str):
        where = f"the folder {data['root']}"
    return short, f"{where}" + (f" ({', '.join(detail)})" if detail else "")


def training_data(metadata: dict) -> tuple[str, str]:
    """How the window names what a checkpoint (its metadata) was trained on: a short label
    ("Omniglot (Vinyals)", "Omniglot background + fonts + KanjiVG") and a longer line with the
    class counts. A checkpoint that records no dataset was trained on Omniglot (Vinyals)."""
    meta = metadata if isinstance(metadata, dict) else {}
    data = meta.get("dataset") if isinstance(meta.get("dataset"), dict) else {}
    if not data:
        source = trained_on(meta)
        data = {"name": source.name, "split": source.split}
    members = data.get("members")
    if isinstance(members, list) and members and all(isinstance(m, dict) for m in members):
        parts = [_one_source(m) for m in members]
        short = " + ".join(p[0] for p in parts)
        long = f"{data.get('name', 'a mix')}: " + " + ".join(p[1] for p in parts)
        return short, long
    return _one_source(data)


# ---- the built-in datasets -------------------------------------------------------------------


def _omniglot(root: Path, subset: str, spec: PreprocessSpec, split: str | None, progress=None):
    from core.data.splits import load_split

    return load_split(root, split or "vinyals", subset, spec.size, progress=progress)


def _miniimagenet(root: Path, subset: str, spec: PreprocessSpec, split: str | None):
    from core.data.miniimagenet import load_miniimagenet

    return load_miniimagenet(root, subset, spec)


def _cifar_fs(root: Path, subset: str, spec: PreprocessSpec, split: str | None):
    from core.data.cifar_fs import load_cifar_fs

    return load_cifar_fs(root, subset, spec)


def _folder(root: Path, subset: str, spec: PreprocessSpec, split: str | None):
    from core.data.folder import load_folder

    return load_folder(root, subset, spec)


def _folder_preprocess(root: Path) -> PreprocessSpec:
    from core.data.folder import sniff_preprocess

    if not root.is_dir():
        return PreprocessSpec("rgb", MINIIMAGENET_SIZE)  # load_dataset says what is missing
    return sniff_preprocess(root)


def _folder_split(root: Path) -> str:
    from core.data.folder import is_explicit

    return "folders" if root.is_dir() and is_explicit(root) else "seeded"


def _glyphs(root: Path, subset: str, spec: PreprocessSpec, split: str | None):
    from core.data.glyphs import load_glyphs

    return load_glyphs(root, subset, spec)


def _kanjivg(root: Path, subset: str, spec: PreprocessSpec, split: str | None):
    from core.data.kanjivg import load_kanjivg

    return load_kanjivg(root, subset, spec)


def _drawings(root: Path, subset: str, spec: PreprocessSpec, split: str | None):
    from core.data.mix import load_mix

    return load_mix("drawings", root, subset, spec)


def _ink(root: Path) -> PreprocessSpec:
    return PreprocessSpec("ink", DEFAULT_SIZE)


def _cifar_size() -> int:
    from core.data.cifar_fs import CIFAR_SIZE

    return CIFAR_SIZE


register(DatasetKind(
    "omniglot", "Omniglot drawings (Vinyals or Lake split)", ("vinyals", "lake"), _omniglot,
    lambda root: PreprocessSpec("ink", DEFAULT_SIZE), kinds=frozenset({"ink"}),
    reports_progress=True, title="Omniglot",
))  # fmt: skip
register(DatasetKind(
    "miniimagenet", "MiniImageNet photos (Ravi split)", ("ravi",), _miniimagenet,
    lambda root: PreprocessSpec("rgb", MINIIMAGENET_SIZE), title="MiniImageNet",
))  # fmt: skip
register(DatasetKind(
    "cifar-fs", "CIFAR-FS photos (Bertinetto split)", ("bertinetto",), _cifar_fs,
    lambda root: PreprocessSpec("rgb", _cifar_size()), title="CIFAR-FS",
))  # fmt: skip
register(DatasetKind(
    "folder", "a folder of class sub-folders", None, _folder, _folder_preprocess,
    has_root=True, split_of=_folder_split,
))  # fmt: skip

register(DatasetKind(
    "glyphs", "characters drawn from outline fonts (unseen characters and font families)",
    ("disjoint",), _glyphs, _ink, kinds=frozenset({"ink"}),
))  # fmt: skip
register(DatasetKind(
    "kanjivg", "KanjiVG's kanji and kana strokes, drawn with stroke-level jitter",
    ("disjoint",), _kanjivg, _ink, kinds=frozenset({"ink"}),
))  # fmt: skip
register(DatasetKind(
    "drawings", "Omniglot (Lake split) + glyphs + kanjivg, joined (the generalist's data)",
    ("lake",), _drawings, _ink, kinds=frozenset({"ink"}),
))  # fmt: skip

#: The registered dataset names, as the CLIs offer them.
DATASETS = tuple(_REGISTRY)
