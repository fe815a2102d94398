"""glyphs, kanjivg and the drawings mix: a tiny glyph cache from matplotlib's bundled fonts
(DejaVu, STIX, Computer Modern; matplotlib is a test dependency), a KanjiVG folder the test
writes, the held-out characters and font families, the drawing augmentation, training and
evaluation through the CLIs, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytest.importorskip("skimage")
pytest.importorskip("fontTools")
matplotlib = pytest.importorskip("matplotlib")

from tiny_omniglot import make_tiny_omniglot  # noqa: E402

from core import evaluate, train  # noqa: E402
from core.checkpoint import load_checkpoint  # noqa: E402
from core.data import glyphs, kanjivg, load_dataset  # noqa: E402
from core.data.augment import AUGMENTATIONS, Drawing  # noqa: E402

TINY = [
    "--ways", "3", "--shots", "1", "--queries", "1", "--episodes", "2", "--val-every", "2",
    "--val-episodes", "2", "--val-ways", "2", "--val-queries", "1", "--threads", "1",
    "--hidden", "8",
]  # fmt: skip
#: A made-up KanjiVG file: two strokes drawn with the path commands KanjiVG uses.
SVG = """<svg xmlns="http://www.w3.org/2000/svg" width="109" height="109" viewBox="0 0 109 109">
<g id="kvg:StrokePaths_{code}" style="fill:none;stroke:#000000;stroke-width:3;">
<path id="kvg:{code}-s1" d="M{a},20c1.01,1.01,1.75,2.25,1.75,3.76c0,3.53-0.09,25.73-0.1,58.95"/>
<path id="kvg:{code}-s2" d="M20,{b}C40,50,60,48,90,50s10,5,2,8"/>
<path id="kvg:{code}-s3" d="M30,80l40,0h10v-20z"/>
</g>
<g id="kvg:StrokeNumbers_{code}"><text>1</text></g>
</svg>"""


def make_kanjivg(folder, n: int = 40) -> list[str]:
    """``n`` made-up kanji (U+4E00 on) in a KanjiVG-shaped folder, one with a Kaisho form."""
    folder.mkdir(parents=True, exist_ok=True)
    chars = []
    for i in range(n):
        code = f"{0x4E00 + i:05x}"
        (folder / f"{code}.svg").write_text(SVG.format(code=code, a=20 + i, b=30 + i % 40))
        chars.append(chr(0x4E00 + i))
    (folder / "04e00-Kaisho.svg").write_text(SVG.format(code="04e00", a=60, b=70))
    return chars


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A data root with a tiny glyph cache, a KanjiVG cache and a tiny Omniglot."""
    base = tmp_path_factory.mktemp("glyphs")
    glyphs.build_glyphs([glyphs.mpl_font_dir()], base / "glyphs", progress=False)
    make_kanjivg(base / "kanjivg" / "kanji")
    kanjivg.build_kanjivg(base / "kanjivg" / "kanji", base / "kanjivg", drawers=6, progress=False)
    make_tiny_omniglot(base)
    return base


def test_held_out_characters_and_font_families(root):
    parts = {s: load_dataset("glyphs", root, s) for s in ("train", "val", "test")}
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        assert not parts[a].characters & parts[b].characters
        assert not set(parts[a].families) & set(parts[b].families)
        assert not set(parts[a].designs) & set(parts[b].designs)
    for s, ds in parts.items():
        assert ds.n_classes > 0 and all(glyphs.char_subset(c) == s for c in ds.names)
        assert ds.images.dtype == torch.uint8 and ds.images.shape[1:] == (1, 28, 28)
        assert int(ds.counts.min()) >= 2 and ds.preprocess.kind == "ink"
        d = ds.describe()
        assert d["families"] == list(ds.families) and d["fonts"] and d["split"] == "disjoint"
    assert "STIX" in parts["test"].designs  # matplotlib's fonts: STIX is held out for test
    trainval = load_dataset("glyphs", root, "trainval")
    assert parts["train"].characters | parts["val"].characters <= trainval.characters
    assert {glyphs.char_subset(c) for c in trainval.names} == {"train", "val"}
    # look-alikes are one class: Cyrillic and Greek capitals A merge into Latin A
    manifest = json.loads((root / "glyphs" / "manifest.json").read_text())
    assert manifest["merged_lookalikes"]["А"] == "A" and manifest["merged_lookalikes"]["Α"] == "A"


def test_renders_look_drawn_not_filled(root):
    """Strokes of the canvas pen: thin ink (an 'O' is a ring, not a disc), centred like a
    drawing (ink box filling 80 % of the side)."""
    font = glyphs.read_faces(glyphs.mpl_font_dir() / "DejaVuSans-Bold.ttf")[0]
    from PIL import ImageFont

    pil = ImageFont.truetype(font.path, glyphs.RENDER_PX)
    img, _ = glyphs.render_glyph(pil, "O", seed=1)
    again, _ = glyphs.render_glyph(pil, "O", seed=1)
    assert np.array_equal(img, again)
    assert img[14, 14] == 0 and img.max() == 255  # a ring: no ink in the middle
    ink = np.argwhere(img > 64)
    assert ink[:, 0].min() >= 1 and ink[:, 0].max() <= 26
    assert (img > 64).mean() < 0.35


def test_kanjivg_strokes_and_splits(root):
    pts = kanjivg.parse_path("M10,10c0,10,10,10,10,0s10,-10,10,0L50,50h5v5z", samples=4)
    assert pts[0] == (10.0, 10.0) and pts[4] == (20.0, 10.0) and pts[-1] == (10.0, 10.0)
    parts = {s: load_dataset("kanjivg", root, s) for s in ("train", "val", "test")}
    assert sum(p.n_classes for p in parts.values()) == 40
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        assert not parts[a].characters & parts[b].characters
    ds = parts["train"]
    assert ds.counts.tolist() == [6] * ds.n_classes
    first = ds.images[:6].float()
    assert not torch.equal(first[0], first[1])  # every drawer draws differently
    # the same character is in the same subset in glyphs and kanjivg
    assert all(glyphs.char_subset(c) == "train" for c in ds.names)


def test_drawing_augmentation_is_seeded(root):
    x = load_dataset("glyphs", root, "train").images[:8].float() / 255
    aug = Drawing()
    a = aug(x, torch.Generator().manual_seed(3))
    b = aug(x, torch.Generator().manual_seed(3))
    c = aug(x, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c) and a.shape == x.shape
    assert float(a.min()) >= 0 and float(a.max()) <= 1
    assert "drawing" in AUGMENTATIONS


def test_train_and_evaluate_glyphs(root, tmp_path, capsys, monkeypatch):
    calls = []
    real = Drawing.__call__
    monkeypatch.setattr(Drawing, "__call__", lambda self, x, g: calls.append(len(x)) or real(
        self, x, g))  # fmt: skip
    out = tmp_path / "run"
    args = ["--dataset", "glyphs", "--data-root", str(root), "--out", str(out)]
    assert train.main([*args, "--augment", "drawing", *TINY]) == 0, capsys.readouterr().err
    assert calls  # training augments
    meta = load_checkpoint(out / "best.pt").metadata
    test = load_dataset("glyphs", root, "test")
    assert meta["dataset"]["name"] == "glyphs" and meta["dataset"]["families"]
    assert not set(meta["dataset"]["families"]) & set(test.families)
    assert set(meta["train_characters"]) == set(load_dataset("glyphs", root, "train").names)
    capsys.readouterr()
    calls.clear()
    ev = ["--checkpoint", str(out / "best.pt"), "--data-root", str(root), "--ways", "3"]
    ev += ["--shots", "1", "--queries", "1", "--episodes", "2", "--json"]
    assert evaluate.main(ev) == 0, capsys.readouterr().err
    doc = json.loads(capsys.readouterr().out)
    assert doc["dataset"] == "glyphs" and doc["subset"] == "test" and not calls  # no augmenting
    assert evaluate.main([*ev, "--subset", "train"]) == 2
    assert "refusing to evaluate" in capsys.readouterr().err


def test_drawings_mix_trains_and_refuses_overlap(root, tmp_path, capsys):
    mix = load_dataset("drawings", root, "train")
    members = [m["name"] for m in mix.describe()["members"]]
    assert members == ["omniglot", "glyphs", "kanjivg"]
    glyph_train = load_dataset("glyphs", root, "train")
    kanji_train = load_dataset("kanjivg", root, "train")
    assert glyph_train.characters | kanji_train.characters <= mix.characters
    assert len(set(mix.names)) == mix.n_classes
    assert any(g.startswith("omniglot/") for g in mix.groups)
    test = load_dataset("drawings", root, "test")
    assert not mix.characters & test.characters
    out = tmp_path / "run"
    args = ["--dataset", "drawings", "--data-root", str(root), "--out", str(out)]
    assert train.main([*args, *TINY]) == 0, capsys.readouterr().err
    capsys.readouterr()
    ev = ["--checkpoint", str(out / "best.pt"), "--data-root", str(root), "--ways", "3"]
    ev += ["--shots", "1", "--queries", "1", "--episodes", "2", "--json"]
    assert evaluate.main(ev) == 0, capsys.readouterr().err
    capsys.readouterr()
    for dataset in ("glyphs", "kanjivg"):  # a member's training classes are refused
        bad = [*ev, "--dataset", dataset, "--subset", "train"]
        assert evaluate.main(bad) == 2, dataset
        assert "refusing to evaluate" in capsys.readouterr().err
    assert evaluate.main([*ev, "--dataset", "glyphs"]) == 0  # its held-out part is fine


def test_missing_cache_and_bad_fonts_say_so_in_one_line(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match=r"core\.data\.glyphs build"):
        load_dataset("glyphs", tmp_path, "train")
    with pytest.raises(FileNotFoundError, match="kanjivg"):
        load_dataset("kanjivg", tmp_path, "train")
    empty = tmp_path / "empty"
    empty.mkdir()
    out = ["--out", str(tmp_path / "data"), "--kanjivg", "no"]
    assert glyphs.main(["build", "--fonts", str(empty), *out]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no font files" in err
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "Broken.ttf").write_bytes(b"not a font at all")
    assert glyphs.main(["build", "--fonts", str(broken), *out]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Broken.ttf" in err
    assert glyphs.main(["build", "--fonts", str(tmp_path / "nowhere"), *out]) == 2
    assert "no such font folder" in capsys.readouterr().err
    # a font lacking every character glyphs draws: matplotlib's math extension font
    cmex = glyphs.mpl_font_dir() / "cmex10.ttf"
    assert glyphs.main(["build", "--fonts", str(cmex), *out]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_mix_balances_its_members(root):
    """Episodes of the drawings mix draw each member about equally often, however many classes
    each holds; the draws are seeded."""
    from core.data.episodes import EpisodeSpec, sample_plan

    mix = load_dataset("drawings", root, "train")
    w = mix.class_weights
    assert w is not None and w.shape == (mix.n_classes,) and abs(float(w.sum()) - 1) < 1e-5
    member = [mix.groups[int(g)].split("/")[0] for g in mix.group_ids]
    for m in ("omniglot", "glyphs", "kanjivg"):
        share = float(sum(float(w[i]) for i, x in enumerate(member) if x == m))
        assert abs(share - 1 / 3) < 1e-4, (m, share)
    spec = EpisodeSpec(ways=3, shots=1, queries=1)
    a = sample_plan(mix, spec, torch.Generator().manual_seed(5))
    b = sample_plan(mix, spec, torch.Generator().manual_seed(5))
    assert torch.equal(a.classes, b.classes) and len(set(a.classes.tolist())) == 3
    drawn = [member[int(c)] for s in range(300)
             for c in sample_plan(mix, spec, torch.Generator().manual_seed(s)).classes]
    for m in ("omniglot", "glyphs", "kanjivg"):
        assert 0.2 < drawn.count(m) / len(drawn) < 0.47, (m, drawn.count(m) / len(drawn))


def test_build_draws_at_most_four_faces_of_a_design(tmp_path, capsys):
    faces = [glyphs.Face(f"/f{i}.ttf", 0, f"Noto Sans {x}".strip(), "Regular", "Open Sans",
                         400, False, frozenset({ord("A"), ord("B")}))
             for i, x in enumerate(["", "Armenian", "Thai", "Lao", "Khmer", "Tamil"])]
    work = glyphs.plan_work(faces, ["A", "B"])
    assert len(work) == 2 * glyphs.PER_DESIGN
    assert {faces[f].family for f, _ in work} >= {"Noto Sans", "Noto Sans Lao"}
    assert "Noto Sans Armenian" not in {faces[f].family for f, _ in work}
    # --kanjivg only with --kanjivg-dir: the folder as `pip install --target DIR kanjivg` lays it
    src = tmp_path / "target"
    make_kanjivg(src / "kanji", n=4)
    out = ["--out", str(tmp_path / "data"), "--drawers", "2"]
    assert glyphs.main(["build", "--kanjivg", "only", "--kanjivg-dir", str(src), *out]) == 0
    assert "kanjivg: 8 drawings of 4 characters" in capsys.readouterr().out
    assert not (tmp_path / "data" / "glyphs").exists()
    bad = ["build", "--kanjivg", "only", "--kanjivg-dir", str(tmp_path), *out]
    assert glyphs.main(bad) == 2 and "no KanjiVG" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["glyphs", "kanjivg", "drawings"])
def test_window_samples_tasks_of_glyph_datasets(root, name):
    """The window's "Sample a task" (metagui.app.tasks) draws from a glyph-trained checkpoint's
    test characters through the registry."""
    from core.data.spec import PreprocessSpec
    from metagui.app.tasks import TaskSource, missing_data, sample_task, task_source

    spec = PreprocessSpec("ink", 28)
    split = "lake" if name == "drawings" else "disjoint"
    meta = {"dataset": {"name": name, "split": split}, "split": split}
    source = task_source(meta, spec, root)
    assert source.name == name and missing_data(source) is None
    assert missing_data(TaskSource(name, split, root / "nowhere", spec))
    data = load_dataset(name, root, "test", spec, source.split)
    task = sample_task(data, source, ways=2, shots=1, seed=3)
    assert len(task.class_names) == 2 and task.support.shape == (2, 1, 28, 28)
    assert all(glyphs.char_subset(c) == "test" for c in task.class_names if len(c) == 1)


def test_lookalikes_merge_when_most_fonts_draw_them_alike():
    """Kappa is K in most fonts but not in a few CJK and handwriting fonts: a majority of the
    faces decides, so those few do not keep it apart (a mean distance did)."""
    rng = np.random.default_rng(0)
    k = (rng.random((16, 16)) > 0.5).astype(np.uint8) * 255
    other = 255 - k
    sig, char_idx, face_idx = [], [], []
    for f in range(5):  # faces 0-2 draw Kappa as their K, faces 3-4 quite unlike it
        sig += [k, k if f < 3 else other, other]
        char_idx += [0, 1, 2]
        face_idx += [f, f, f]
    merged = glyphs.find_lookalikes(np.array(sig), np.array(char_idx), np.array(face_idx),
                                    ["K", "Κ", "x"], ["Latin", "Greek", "Latin"])  # fmt: skip
    assert merged == {1: 0}


def test_evaluate_on_some_scripts_only(root, tmp_path, capsys):
    """``core.evaluate --groups``: letters and digits only, out of a test split of kanji."""
    from core.data.base import only_groups

    test = load_dataset("glyphs", root, "test")
    latin = only_groups(test, ["Latin", "Digits"])
    assert set(latin.groups) == {"Latin", "Digits"} & set(test.groups)
    assert latin.n_classes == sum(test.groups[int(g)] in latin.groups for g in test.group_ids)
    c = latin.names[0]
    i = test.names.index(c)
    first = test.images[int(test.offsets[i]) : int(test.offsets[i] + test.counts[i])]
    assert torch.equal(latin.images[: int(latin.counts[0])], first)
    with pytest.raises(ValueError, match="no group 'Klingon'; it has"):
        only_groups(test, ["Klingon"])
    mix = only_groups(load_dataset("drawings", root, "test"), ["glyphs/Latin", "glyphs/Symbols"])
    assert abs(float(mix.class_weights.sum()) - 1) < 1e-5
    out = tmp_path / "run"
    args = ["--dataset", "glyphs", "--data-root", str(root), "--out", str(out)]
    assert train.main([*args, *TINY]) == 0, capsys.readouterr().err
    capsys.readouterr()
    ev = ["--checkpoint", str(out / "best.pt"), "--data-root", str(root), "--ways", "2",
          "--shots", "1", "--queries", "1", "--episodes", "2", "--json"]  # fmt: skip
    assert evaluate.main([*ev, "--groups", *latin.groups]) == 0, capsys.readouterr().err
    doc = json.loads(capsys.readouterr().out)
    assert doc["groups"] == list(latin.groups)
    assert evaluate.main([*ev, "--groups", "Klingon"]) == 2
    assert "no group 'Klingon'" in capsys.readouterr().err


def test_a_drawings_model_samples_omniglot_where_the_glyph_caches_are_missing(tmp_path, tiny_root):
    """The default (drawings) checkpoint on a machine with Omniglot only: "Sample a task" uses
    the mix's Omniglot member (Lake's test alphabets) instead of saying the data is missing."""
    from core.data.spec import PreprocessSpec
    from metagui.app.tasks import missing_data, task_source, usable_source

    meta = {"dataset": {"name": "drawings", "split": "lake"}, "split": "lake"}
    spec = PreprocessSpec("ink", 28)
    mix = task_source(meta, spec, tiny_root)
    assert missing_data(mix)  # no glyph caches under the tiny Omniglot
    source = usable_source(mix)
    assert (source.name, source.split) == ("omniglot", "lake") and missing_data(source) is None
    nothing = task_source(meta, spec, tmp_path / "nowhere")
    assert usable_source(nothing) == nothing  # nothing usable: the mix, and its message
