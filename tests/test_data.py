"""Omniglot reading (zip and folder), cache, splits, download, and the episode sampler."""

from __future__ import annotations

import functools
import http.server
import threading

import numpy as np
import pytest
import torch
from tiny_omniglot import make_tiny_omniglot

from core.data import omniglot as omniglot_module
from core.data.episodes import EpisodeSpec, check_spec, episodes, sample_episode
from core.data.omniglot import load_omniglot_set
from core.data.paths import DataNotFoundError, data_root, ensure_omniglot_set
from core.data.splits import load_split


def test_zip_and_folder_layouts_read_the_same(tmp_path, tiny_root):
    folder_root = make_tiny_omniglot(tmp_path / "folders", as_zip=False)
    a = load_omniglot_set(tiny_root, "background", cache=tmp_path / "c1")
    b = load_omniglot_set(folder_root, "background", cache=tmp_path / "c2")
    assert a.images.shape == (18, 20, 28, 28) and a.images.dtype == np.uint8
    assert a.characters == b.characters
    assert np.array_equal(a.images, b.images)
    assert a.alphabets[0] == "Bg0" and a.characters[0] == "Bg0/character01"


def test_second_load_comes_from_the_cache(tmp_path, tiny_root, monkeypatch):
    first = load_omniglot_set(tiny_root, "evaluation", cache=tmp_path)
    assert list(tmp_path.glob("omniglot-evaluation-28px-*.npy"))

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again instead of reading the cache")

    monkeypatch.setattr(omniglot_module, "_decode", no_decoding)
    second = load_omniglot_set(tiny_root, "evaluation", cache=tmp_path)
    assert np.array_equal(first.images, second.images)


@pytest.mark.parametrize("as_zip", [True, False])
def test_decoding_reports_progress_per_set_and_the_cache_reports_none(tmp_path, as_zip):
    root = make_tiny_omniglot(
        tmp_path / "data", alphabets=2, characters=2, drawers=3, as_zip=as_zip
    )
    calls: list[tuple[str, int, int]] = []
    bank = load_split(root, "vinyals", "test", progress=lambda *call: calls.append(call))
    per_image = 2 * 2 * 3  # alphabets x characters x drawers in each set
    for which in ("background", "evaluation"):  # the Vinyals split reads both sets
        done = [d for w, d, t in calls if w == which]
        assert done == list(range(1, per_image + 1))
        assert {t for w, _, t in calls if w == which} == {per_image}
    assert [w for w, _, _ in calls] == ["background"] * per_image + ["evaluation"] * per_image
    calls.clear()
    again = load_split(root, "vinyals", "test", progress=lambda *call: calls.append(call))
    assert calls == [] and torch.equal(again.images, bank.images)  # cached: nothing decoded


def test_lake_test_split_reports_only_the_evaluation_set(tmp_path):
    root = make_tiny_omniglot(tmp_path / "data", alphabets=1, characters=2, drawers=2)
    calls = []
    load_split(root, "lake", "test", progress=lambda *call: calls.append(call))
    assert calls == [
        ("evaluation", 1, 4),
        ("evaluation", 2, 4),
        ("evaluation", 3, 4),
        ("evaluation", 4, 4),
    ]


def test_vinyals_split_rotations_are_classes(tiny_root):
    train = load_split(tiny_root, "vinyals", "train")
    assert train.n_classes == len(
        (tiny_root / "omniglot/splits/vinyals/train.txt").read_text().split()
    )
    i0 = train.names.index("Bg0/character01/rot000")
    i90 = train.names.index("Bg0/character01/rot090")
    assert torch.equal(train.images[i90], torch.rot90(train.images[i0], 1, dims=(-2, -1)))
    test = load_split(tiny_root, "vinyals", "test")
    assert not train.characters & test.characters


def test_lake_split_trains_on_background_and_tests_on_evaluation(tiny_root):
    train = load_split(tiny_root, "lake", "trainval")
    test = load_split(tiny_root, "lake", "test")
    assert train.sources == {"background"} and test.sources == {"evaluation"}
    assert all(n.endswith("rot000") for n in test.names)
    val = load_split(tiny_root, "lake", "val")
    assert not val.characters & load_split(tiny_root, "lake", "train").characters


def test_unknown_split_and_subset_are_refused(tiny_root):
    with pytest.raises(ValueError, match="unknown split"):
        load_split(tiny_root, "nope", "train")
    with pytest.raises(ValueError, match="unknown subset"):
        load_split(tiny_root, "vinyals", "nope")


def test_same_seed_same_episodes_and_labels_match_classes(tiny_root):
    bank = load_split(tiny_root, "vinyals", "train")
    spec = EpisodeSpec(ways=5, shots=2, queries=3)
    a = list(episodes(bank, spec, 3, seed=7))
    b = list(episodes(bank, spec, 3, seed=7))
    c = list(episodes(bank, spec, 3, seed=8))
    assert all(
        torch.equal(x.support, y.support) and x.class_names == y.class_names for x, y in zip(a, b)
    )
    assert any(x.class_names != y.class_names for x, y in zip(a, c))
    ep = a[0]
    assert ep.support.shape == (10, 1, 28, 28) and ep.query.shape == (15, 1, 28, 28)
    assert ep.support_labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    for images, labels in ((ep.support, ep.support_labels), (ep.query, ep.query_labels)):
        for img, label in zip(images, labels):
            cls = bank.names.index(ep.class_names[int(label)])
            stored = bank.images[cls].float() / 255.0
            assert any(torch.equal(img, s) for s in stored), "image not from its labelled class"
    # support and query images of a class are different drawings
    for k in range(5):
        sup = ep.support[ep.support_labels == k]
        qry = ep.query[ep.query_labels == k]
        assert not any(torch.equal(s, q) for s in sup for q in qry)


def test_within_alphabet_episodes_with_shared_drawers(tiny_root):
    bank = load_split(tiny_root, "lake", "test")
    spec = EpisodeSpec(ways=5, shots=1, queries=1, within_alphabet=True, shared_drawers=True)
    gen = torch.Generator().manual_seed(0)
    for _ in range(10):
        ep = sample_episode(bank, spec, gen)
        assert len({n.split("/")[0] for n in ep.class_names}) == 1
    with pytest.raises(ValueError, match="within-alphabet"):
        check_spec(bank, EpisodeSpec(ways=7, shots=1, queries=1, within_alphabet=True))
    with pytest.raises(ValueError, match="images per class"):
        check_spec(bank, EpisodeSpec(ways=5, shots=15, queries=6))


def test_missing_data_says_how_to_provide_it(tmp_path, monkeypatch):
    monkeypatch.delenv("METAGUI_DATA", raising=False)
    assert data_root(tmp_path) == tmp_path
    with pytest.raises(DataNotFoundError, match="METAGUI_DATA"):
        ensure_omniglot_set(tmp_path, "background")
    # default cache offline: the download fails and the message still says what to do
    monkeypatch.setenv("METAGUI_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("METAGUI_OMNIGLOT_URL", "http://127.0.0.1:9/nothing")
    with pytest.raises(DataNotFoundError, match=r"download .* failed"):
        ensure_omniglot_set(data_root(None), "background")


def test_default_cache_downloads_from_the_release_url(tmp_path, tiny_root, monkeypatch):
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(tiny_root / "omniglot")
    )
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        monkeypatch.delenv("METAGUI_DATA", raising=False)
        monkeypatch.setenv("METAGUI_CACHE", str(tmp_path / "cache"))
        monkeypatch.setenv("METAGUI_OMNIGLOT_URL", url)
        monkeypatch.setenv("METAGUI_SPLITS_URL", f"{url}/splits/vinyals")
        bank = load_split(data_root(None), "vinyals", "test")
    finally:
        server.shutdown()
        thread.join()
    downloaded = tmp_path / "cache" / "omniglot"
    assert (downloaded / "images_background.zip").read_bytes() == (
        tiny_root / "omniglot" / "images_background.zip"
    ).read_bytes()
    assert (downloaded / "splits" / "vinyals" / "test.txt").is_file()
    assert bank.n_classes == 72
    assert not list(downloaded.glob("*.part"))


@pytest.mark.data
def test_shared_omniglot_has_the_published_sizes(omniglot_root):
    bg = load_omniglot_set(omniglot_root, "background")
    ev = load_omniglot_set(omniglot_root, "evaluation")
    assert bg.images.shape == (964, 20, 28, 28) and ev.images.shape == (659, 20, 28, 28)
    assert len(set(bg.alphabets)) == 30 and len(set(ev.alphabets)) == 20
    sizes = {s: load_split(omniglot_root, "vinyals", s).n_classes for s in ("train", "val", "test")}
    assert sizes == {"train": 4112, "val": 688, "test": 1692}
    lake_test = load_split(omniglot_root, "lake", "test")
    assert lake_test.n_classes == 659
    # The Vinyals training classes include characters of evaluation alphabets (see README).
    vin_train = load_split(omniglot_root, "vinyals", "trainval")
    assert vin_train.characters & lake_test.characters
