"""Preprocessing specs and the four datasets, each read from small data in its real layout."""

from __future__ import annotations

import csv
import functools
import http.server
import io
import pickle
import tarfile
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from core.data.cifar_fs import SPLIT_CLASSES
from core.data.datasets import DATASETS, default_preprocess, load_dataset
from core.data.episodes import EpisodeSpec, check_spec, episodes
from core.data.paths import DataNotFoundError, cache_dir
from core.data.preprocess import ImageError, preprocess_image
from core.data.spec import IMAGENET_MEAN, IMAGENET_STD, PreprocessSpec
from core.data.splits import load_split

RGB = PreprocessSpec("rgb", 84)


def photo(seed: int, size: tuple[int, int] = (84, 84), mode: str = "RGB") -> Image.Image:
    """A small 'photo': a coloured disc on a noisy background, fixed by ``seed``."""
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    img = Image.fromarray(arr)
    w, h = size
    ImageDraw.Draw(img).ellipse((w // 4, h // 4, 3 * w // 4, 3 * h // 4), fill=(200, 30, 60))
    return img.convert(mode)


def drawing(seed: int) -> Image.Image:
    """A 1-bit stroke on white, like an Omniglot drawing."""
    pts = np.random.default_rng(seed).uniform(10, 95, size=(3, 2))
    img = Image.new("L", (105, 105), 255)
    ImageDraw.Draw(img).line([tuple(p) for p in pts], fill=0, width=4)
    return img.convert("1")


def class_tree(root: Path, classes: dict[str, int], seed: int = 0, ext: str = ".jpg") -> Path:
    """``root/<class>/<i><ext>`` photos; returns ``root``."""
    for k, (name, n) in enumerate(classes.items()):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            photo(seed + 100 * k + i).save(root / name / f"{i:02d}{ext}")
    return root


# -- preprocessing spec ---------------------------------------------------------------------------


def test_ink_spec_is_exactly_the_preprocessing_function():
    ink = PreprocessSpec("ink", 28)
    img = drawing(1)
    assert torch.equal(ink.image(img), preprocess_image(img, 28))
    stored = ink.decode(img)
    assert stored.dtype == torch.uint8 and stored.shape == (1, 28, 28)
    assert torch.allclose(ink.normalize(stored), preprocess_image(img, 28), atol=0.5 / 255)
    # a colour photo takes its luminance: same as its grayscale version
    assert torch.equal(ink.image(photo(3)), preprocess_image(photo(3).convert("L"), 28))


def test_rgb_spec_resizes_and_normalises_any_mode():
    x = RGB.decode(photo(0, (50, 30)))
    assert x.dtype == torch.uint8 and x.shape == (3, 84, 84)
    mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
    expected = (x.float() / 255 - mean[:, None, None]) / std[:, None, None]
    assert torch.allclose(RGB.normalize(x), expected, atol=1e-6)
    assert RGB.normalize(torch.stack([x, x])).shape == (2, 3, 84, 84)
    for mode in ("L", "1", "P", "RGBA", "LA", "I;16"):
        img = photo(0).convert("L").convert(mode) if mode == "I;16" else photo(0).convert(mode)
        out = RGB.image(img)
        assert out.shape == (3, 84, 84) and out.dtype == torch.float32, mode
    gray = RGB.decode(photo(0).convert("L"))
    assert torch.equal(gray[0], gray[1]) and torch.equal(gray[1], gray[2])


def test_spec_file_names_a_bad_file(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(ImageError, match=r"broken\.jpg"):
        RGB.file(bad)
    good = tmp_path / "good.png"
    photo(1).save(good)
    assert torch.equal(RGB.file(good), RGB.image(photo(1)))


def test_spec_dicts_and_checkpoint_metadata():
    for spec in (RGB, PreprocessSpec("ink", 28), PreprocessSpec("rgb", 32, (0.5,) * 3, (0.2,) * 3)):
        assert PreprocessSpec.from_dict(spec.to_dict()) == spec
        assert PreprocessSpec.from_metadata({"preprocess": spec.to_dict(), "input_size": 9}) == spec
    old = {"preprocess_version": 1, "input_size": 56, "backbone": "conv4"}
    assert PreprocessSpec.from_metadata(old) == PreprocessSpec("ink", 56)
    assert PreprocessSpec("ink", 28).channels == 1 and RGB.channels == 3


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ({"kind": "hsv", "size": 28}, "unknown preprocess kind"),
        ({"kind": "rgb"}, "needs 'kind' and 'size'"),
        ({"kind": "rgb", "size": "84"}, "must be an integer"),
        ({"kind": "rgb", "size": 2}, "outside"),
        ({"kind": "rgb", "size": 84, "mean": [0.5]}, "3 mean"),
        ({"kind": "rgb", "size": 84, "std": [1, 0, 1]}, "positive"),
        ({"kind": "ink", "size": 28, "mean": [0.5]}, "no mean/std"),
        ({"kind": "ink", "size": 28, "version": 99}, "version"),
        ({"kind": "ink", "size": 28, "extra": 1}, "unknown keys"),
        (["ink", 28], "must be a dict"),
    ],
)
def test_bad_spec_dicts_are_refused_in_one_line(bad, reason):
    with pytest.raises(ValueError, match=reason) as info:
        PreprocessSpec.from_dict(bad)
    assert "\n" not in str(info.value)


def test_metadata_without_preprocessing_is_refused():
    with pytest.raises(ValueError, match="records no preprocessing"):
        PreprocessSpec.from_metadata({"input_size": 28})
    with pytest.raises(ValueError, match="preprocess_version"):
        PreprocessSpec.from_metadata({"preprocess_version": 2, "input_size": 28})


# -- omniglot -------------------------------------------------------------------------------------


def test_omniglot_serves_the_protocol(tiny_root):
    ds = load_dataset("omniglot", tiny_root, "test", split="lake")
    bank = load_split(tiny_root, "lake", "test")
    assert ds.names == bank.names and torch.equal(ds.images, bank.images)
    assert ds.in_memory and ds.preprocess == PreprocessSpec("ink", 28)
    assert torch.equal(ds.counts, torch.full((ds.n_classes,), 20))
    assert torch.equal(ds.items(ds.offsets[3:4] + 5), bank.images[3, 5:6])
    assert ds.groups == ds.alphabets and ds.group_ids is ds.alphabet_ids
    assert ds.describe()["root"] == str(tiny_root) and ds.describe()["name"] == "omniglot"
    with pytest.raises(ValueError, match="ink"):
        load_dataset("omniglot", tiny_root, "test", preprocess=RGB)
    with pytest.raises(ValueError, match="unknown split"):
        load_dataset("omniglot", tiny_root, "test", split="ravi")


def test_dataset_names_and_defaults(tmp_path):
    assert DATASETS == (
        "omniglot", "miniimagenet", "cifar-fs", "folder", "glyphs", "kanjivg", "drawings"
    )  # fmt: skip
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("imagenet", tmp_path, "train")
    assert default_preprocess("omniglot", tmp_path) == PreprocessSpec("ink", 28)
    assert default_preprocess("miniimagenet", tmp_path) == PreprocessSpec("rgb", 84)
    assert default_preprocess("cifar-fs", tmp_path) == PreprocessSpec("rgb", 32)


# -- mini-ImageNet --------------------------------------------------------------------------------

MINI = {"train": 4, "val": 2, "test": 3}


def make_mini(root: Path, layout: str, per_class: int = 5) -> Path:
    """mini-ImageNet under ``root/miniimagenet``: ``layout`` "ravi" (images/ + splits/ravi CSVs),
    "beside" (images/ + train.csv beside it) or "folders" (train/<wnid>/*.jpg)."""
    base = root / "miniimagenet"
    k = 0
    for subset, n_classes in MINI.items():
        rows = []
        for _ in range(n_classes):
            k += 1
            wnid = f"n{k:08d}"
            for i in range(per_class):
                name = f"{wnid}{i + 1:08d}.jpg"
                folder = base / "images" if layout != "folders" else base / subset / wnid
                folder.mkdir(parents=True, exist_ok=True)
                photo(1000 * k + i).save(folder / name)
                rows.append((name, wnid))
        if layout != "folders":
            csv_dir = base / "splits" / "ravi" if layout == "ravi" else base
            csv_dir.mkdir(parents=True, exist_ok=True)
            with (csv_dir / f"{subset}.csv").open("w", newline="") as f:
                csv.writer(f).writerows([("filename", "label"), *rows])
    return root


@pytest.mark.parametrize("layout", ["ravi", "beside", "folders"])
def test_miniimagenet_layouts(tmp_path, layout):
    root = make_mini(tmp_path, layout)
    test = load_dataset("miniimagenet", root, "test")
    assert test.names == ("n00000007", "n00000008", "n00000009") and test.split == "ravi"
    assert test.counts.tolist() == [5, 5, 5] and test.offsets.tolist() == [0, 5, 10]
    assert not test.in_memory and test.preprocess == RGB
    x = test.items(torch.tensor([6, 0]))
    assert x.shape == (2, 3, 84, 84) and x.dtype == torch.uint8
    assert torch.equal(x[0], RGB.decode(Image.open(root / "miniimagenet" / _rel(layout, 8, 2))))
    trainval = load_dataset("miniimagenet", root, "trainval")
    assert trainval.n_classes == 6 and not trainval.characters & test.characters


def _rel(layout: str, k: int, i: int) -> str:
    name = f"n{k:08d}{i:08d}.jpg"
    return f"test/n{k:08d}/{name}" if layout == "folders" else f"images/{name}"


def test_miniimagenet_missing_root_and_files(tmp_path):
    with pytest.raises(DataNotFoundError, match=str(tmp_path / "miniimagenet")):
        load_dataset("miniimagenet", tmp_path, "train")
    root = make_mini(tmp_path, "ravi", per_class=2)
    (root / "miniimagenet" / "images" / "n0000000100000001.jpg").unlink()
    with pytest.warns(UserWarning, match="n0000000100000001.jpg"):
        train = load_dataset("miniimagenet", root, "train")
    assert train.counts.tolist() == [1, 2, 2, 2]
    (root / "miniimagenet" / "splits" / "ravi" / "val.csv").unlink()
    with pytest.raises(DataNotFoundError, match=r"val\.csv"):
        load_dataset("miniimagenet", root, "val")
    with pytest.raises(ValueError, match="one split"):
        load_dataset("miniimagenet", root, "train", split="vinyals")


# -- CIFAR-FS -------------------------------------------------------------------------------------


def make_cifar(folder: Path, per_train: int = 2, per_test: int = 1) -> list[str]:
    """CIFAR-100 pickles as torchvision reads them, in ``folder``; returns the fine names."""
    names = sorted(n for part in SPLIT_CLASSES.values() for n in part)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for part, per in (("train", per_train), ("test", per_test)):
        labels = np.tile(np.arange(100), per)
        rng.shuffle(labels)
        data = rng.integers(0, 256, size=(len(labels), 3072), dtype=np.uint8)
        data[:, 0] = labels  # the first red pixel tells the class
        batch = {
            b"data": data,
            b"fine_labels": labels.tolist(),
            b"coarse_labels": [0] * len(labels),
        }
        (folder / part).write_bytes(pickle.dumps(batch, protocol=2))
    meta = {b"fine_label_names": [n.encode() for n in names], b"coarse_label_names": [b"x"]}
    (folder / "meta").write_bytes(pickle.dumps(meta, protocol=2))
    return names


@pytest.mark.parametrize("where", ["cifar-fs/cifar-100-python", "cifar-100-python"])
def test_cifar_fs_pools_train_and_test_by_class_split(tmp_path, where):
    names = make_cifar(tmp_path / where)
    test = load_dataset("cifar-fs", tmp_path, "test")
    assert test.names == SPLIT_CLASSES["test"] and test.split == "bertinetto"
    assert test.counts.tolist() == [3] * 20 and test.in_memory
    x = test.items(torch.arange(len(test.names) * 3))
    assert x.shape == (60, 3, 32, 32) and x.dtype == torch.uint8
    expected = torch.tensor([names.index(n) for n in test.names]).repeat_interleave(3)
    assert torch.equal(x[:, 0, 0, 0].long(), expected)
    assert load_dataset("cifar-fs", tmp_path, "trainval").n_classes == 80
    small = load_dataset("cifar-fs", tmp_path, "val", preprocess=PreprocessSpec("rgb", 16))
    assert small.items(torch.tensor([0])).shape == (1, 3, 16, 16)
    splits = tmp_path / "cifar-fs" / "splits"
    splits.mkdir(parents=True, exist_ok=True)
    (splits / "test.txt").write_text("apple\nworm\n")
    assert load_dataset("cifar-fs", tmp_path, "test").names == ("apple", "worm")
    (splits / "test.txt").write_text("apple\nunicorn\n")
    with pytest.raises(ValueError, match="unicorn"):
        load_dataset("cifar-fs", tmp_path, "test")


def test_cifar_fs_refuses_code_in_pickles(tmp_path):
    make_cifar(tmp_path / "cifar-100-python")
    (tmp_path / "cifar-100-python" / "meta").write_bytes(pickle.dumps(Path("x")))
    with pytest.raises(ValueError, match="not a readable CIFAR-100 pickle"):
        load_dataset("cifar-fs", tmp_path, "test")


def test_cifar_fs_never_downloads_into_a_named_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("METAGUI_CIFAR_URL", "http://127.0.0.1:9/none.tar.gz")
    with pytest.raises(DataNotFoundError, match="cifar-100-python") as info:
        load_dataset("cifar-fs", tmp_path, "train")
    assert "failed" not in str(info.value) and "\n" not in str(info.value)
    # the default cache, offline: the download fails and the message says what to do
    monkeypatch.setenv("METAGUI_CACHE", str(tmp_path / "cache"))
    with pytest.raises(DataNotFoundError, match=r"download from .* failed.*--data-root"):
        load_dataset("cifar-fs", cache_dir(), "train")
    assert not list((tmp_path / "cache" / "cifar-fs").iterdir())


def test_cifar_fs_downloads_into_the_default_cache(tmp_path, monkeypatch):
    make_cifar(tmp_path / "src" / "cifar-100-python")
    served = tmp_path / "served"
    served.mkdir()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(tmp_path / "src" / "cifar-100-python", arcname="cifar-100-python")
    (served / "c100.tar.gz").write_bytes(buf.getvalue())
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("METAGUI_CACHE", str(tmp_path / "cache"))
        url = f"http://127.0.0.1:{server.server_address[1]}/c100.tar.gz"
        monkeypatch.setenv("METAGUI_CIFAR_URL", url)
        ds = load_dataset("cifar-fs", cache_dir(), "val")
    finally:
        server.shutdown()
        thread.join()
    assert ds.n_classes == 16 and ds.counts.tolist() == [3] * 16
    got = tmp_path / "cache" / "cifar-fs"
    assert sorted(p.name for p in got.iterdir()) == ["cifar-100-python"]
    assert (got / "cifar-100-python" / "meta").read_bytes() == (
        tmp_path / "src" / "cifar-100-python" / "meta"
    ).read_bytes()


# -- a folder of class sub-folders ----------------------------------------------------------------


def test_folder_with_train_val_test(tmp_path):
    for subset, names in (("train", "abcd"), ("val", "ef"), ("test", "gh")):
        class_tree(tmp_path / subset, {n: 3 for n in names})
    train = load_dataset("folder", tmp_path, "train")
    assert train.names == tuple("abcd") and train.split == "folders" and not train.in_memory
    assert load_dataset("folder", tmp_path, "trainval").names == tuple("abcdef")
    assert default_preprocess("folder", tmp_path) == RGB
    assert train.describe()["preprocess"] == RGB.to_dict()
    (tmp_path / "val").rename(tmp_path / "elsewhere")
    with pytest.raises(DataNotFoundError, match="val"):
        load_dataset("folder", tmp_path, "val")


def test_flat_folder_seeded_split(tmp_path):
    names = [f"class{i:02d}" for i in range(10)]
    class_tree(tmp_path, {n: 2 for n in names})
    parts = {s: load_dataset("folder", tmp_path, s).names for s in ("train", "val", "test")}
    assert [len(p) for p in parts.values()] == [6, 2, 2]
    assert sorted(sum(parts.values(), ())) == names
    assert load_dataset("folder", tmp_path, "test").split == "seeded"
    # stable: adding a class never moves another one between subsets
    class_tree(tmp_path, {"class10": 2}, seed=7)
    again = {s: load_dataset("folder", tmp_path, s).names for s in ("train", "val", "test")}
    assert sum(set(parts[s]) <= set(again[s]) for s in parts) >= 2
    assert load_dataset("folder", tmp_path, "all").n_classes == 11


def test_flat_folder_with_too_few_classes_says_so(tmp_path):
    class_tree(tmp_path, {"a": 2, "b": 2, "c": 2})
    with pytest.raises(ValueError, match=r"3 usable class folders are too few.*train/ val/ test/"):
        load_dataset("folder", tmp_path, "train")
    assert load_dataset("folder", tmp_path, "all").n_classes == 3


def test_folder_of_drawings_defaults_to_ink(tmp_path):
    for c in range(3):
        (tmp_path / f"glyph{c}").mkdir()
        for i in range(3):
            drawing(10 * c + i).save(tmp_path / f"glyph{c}" / f"{i}.png")
    assert default_preprocess("folder", tmp_path) == PreprocessSpec("ink", 28)
    ds = load_dataset("folder", tmp_path, "all")
    assert ds.items(torch.tensor([0, 4])).shape == (2, 1, 28, 28)


def test_folder_bad_input(tmp_path):
    """Mixed modes and formats work; empty folders and non-images are skipped; one-image
    classes are left out of episodes that need more, with warnings naming them."""
    class_tree(tmp_path, {"big": 4, "other": 3, "third": 3})
    photo(5, (40, 90), "L").save(tmp_path / "big" / "gray.png")
    photo(6, (120, 60), "RGBA").save(tmp_path / "other" / "alpha.png")
    photo(7).save(tmp_path / "third" / "pic.bmp")
    (tmp_path / "big" / "notes.txt").write_text("not an image")
    (tmp_path / "big" / ".DS_Store").write_bytes(b"\0\1")
    (tmp_path / "empty").mkdir()
    (tmp_path / "single").mkdir()
    photo(9).save(tmp_path / "single" / "only.jpg")
    with pytest.warns(UserWarning, match="empty"):
        ds = load_dataset("folder", tmp_path, "all")
    assert ds.names == ("big", "other", "single", "third")
    assert ds.counts.tolist() == [5, 4, 1, 4]
    assert ds.items(torch.arange(14)).shape == (14, 3, 84, 84)
    spec = EpisodeSpec(ways=3, shots=1, queries=1)
    with pytest.warns(RuntimeWarning, match="single"):
        eps = list(episodes(ds, spec, 6, seed=0))
    assert all("single" not in e.class_names for e in eps)
    with (
        pytest.raises(ValueError, match="4-way episodes need 4 classes"),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        check_spec(ds, EpisodeSpec(ways=4, shots=1, queries=1))
    with pytest.raises(DataNotFoundError, match="nowhere"):
        load_dataset("folder", tmp_path / "nowhere", "train")


def test_corrupt_image_is_replaced_by_another_of_its_class(tmp_path):
    class_tree(tmp_path, {"a": 4, "b": 4})
    (tmp_path / "a" / "01.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    ds = load_dataset("folder", tmp_path, "all")
    with pytest.warns(RuntimeWarning, match="01.jpg"):
        x = ds.items(torch.tensor([1, 0, 5]))
    # replaced by the next image of class a
    assert torch.equal(x[0], RGB.decode(Image.open(tmp_path / "a" / "02.jpg")))
    assert torch.equal(x[1], RGB.decode(Image.open(tmp_path / "a" / "00.jpg")))
    spec = EpisodeSpec(ways=2, shots=2, queries=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = list(episodes(ds, spec, 4, seed=3))
        workers = list(episodes(ds, spec, 4, seed=3, workers=2))
    for p, w in zip(plain, workers, strict=True):
        assert torch.equal(p.support, w.support) and torch.equal(p.query, w.query)


# -- the registry and trained_on -------------------------------------------------------------------


def test_a_registered_dataset_is_served_by_name(tmp_path):
    from core.data import datasets
    from core.data.base import InMemoryDataset, class_layout

    def load(root, subset, spec, split):
        offsets, counts = class_layout([2, 2])
        images = torch.zeros(4, 1, spec.size, spec.size, dtype=torch.uint8)
        return InMemoryDataset("toy", split, subset, root, ("a", "b"), offsets, counts, spec,
                               images=images)  # fmt: skip

    kind = datasets.DatasetKind("toy", "a toy", ("one", "two"), load,
                                lambda root: PreprocessSpec("ink", 12), kinds=frozenset({"ink"}))
    datasets.register(kind)
    try:
        ds = load_dataset("toy", tmp_path, "train")
        assert ds.split == "one" and ds.preprocess == PreprocessSpec("ink", 12)
        assert load_dataset("toy", tmp_path, "train", split="two").split == "two"
        with pytest.raises(ValueError, match="unknown split"):
            load_dataset("toy", tmp_path, "train", split="three")
        with pytest.raises(ValueError, match="ink"):
            load_dataset("toy", tmp_path, "train", preprocess=RGB)
        with pytest.raises(ValueError, match="registered already"):
            datasets.register(kind)
    finally:
        del datasets._REGISTRY["toy"]


def test_training_data_names_what_a_checkpoint_learned_on():
    from core.data.datasets import training_data

    assert training_data({}) == ("Omniglot (Vinyals)", "omniglot, vinyals split")
    lake = {"dataset": {"name": "omniglot", "split": "lake", "n_classes": 3052}}
    assert training_data(lake) == ("Omniglot background",
                                   "omniglot, lake split (3,052 training classes)")  # fmt: skip
    mix = {"dataset": {"name": "drawings", "split": "lake", "members": [
        lake["dataset"],
        {"name": "glyphs", "split": "disjoint", "n_classes": 9, "families": ["A", "B"]},
        {"name": "kanjivg", "split": "disjoint", "n_classes": 4},
    ]}}  # fmt: skip
    short, long = training_data(mix)
    assert short == "Omniglot background + fonts + KanjiVG"
    assert "2 font families" in long and "4 training classes" in long
    photos = training_data({"dataset": {"name": "folder", "root": "/home/u/photos"}})
    assert photos == ("folder photos", "the folder /home/u/photos")
    assert training_data({"dataset": {"name": "cifar-fs", "split": "bertinetto"}})[0] == "CIFAR-FS"
    # hostile metadata: still a label, never an exception
    assert training_data({"dataset": {"name": 5, "members": "x", "n_classes": True}})[0]
    assert training_data("not a dict")[0] == "Omniglot (Vinyals)"


def test_trained_on_reads_the_dataset_and_split_of_a_checkpoint(tmp_path):
    from core.data.datasets import DataSource, trained_on

    assert trained_on({}) == DataSource("omniglot", "vinyals")  # before datasets were recorded
    assert trained_on({"split": "lake"}) == DataSource("omniglot", "lake")
    cifar = {"dataset": {"name": "cifar-fs"}, "split": "bertinetto"}
    assert trained_on(cifar).split == "bertinetto"
    assert trained_on({"dataset": {"name": "miniimagenet"}, "split": None}).split == "ravi"
    folder = trained_on({"dataset": {"name": "folder", "root": str(tmp_path)}, "split": "seeded"})
    assert folder == DataSource("folder", None, str(tmp_path))
    assert folder.where(Path("/elsewhere")) == tmp_path
    assert folder.where(Path("/elsewhere"), root_given=True) == Path("/elsewhere")
    assert trained_on({"dataset": {"name": 5}, "split": ["x"]}) == DataSource("omniglot", "vinyals")
