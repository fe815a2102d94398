"""benchmarks/drawn_accuracy.py on glyphs of matplotlib's bundled fonts (no font packages, no
caches): the canvas round trip, cross-family tasks, seeding and the accuracy it reports."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from core.data import kanjivg
from core.data.glyphs import mpl_font_dir, render_glyph, seed_of, to_uint8
from core.data.preprocess import CANVAS_SIZE
from core.data.spec import INK_28
from metagui.app.compute import load_learner, query_tensor

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import drawn_accuracy as bench
from drawn.items import CanvasPen, Item, KanjiSource, Rendered, glyph_pool_from_fonts, render
from drawn.tasks import Cell, Task, make_tasks

FONTS = ("DejaVuSans.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Italic.ttf",
         "DejaVuSansMono.ttf", "STIXGeneral.ttf", "STIXGeneralItalic.ttf")  # fmt: skip
CHARS = "ABEGKRSX2"
CHECKPOINT = Path(__file__).resolve().parents[1] / "assets" / "checkpoints" / "protonet-omniglot.pt"


@pytest.fixture(scope="module")
def pool():
    folder = mpl_font_dir()
    if folder is None:
        pytest.skip("matplotlib's fonts are not installed")
    return glyph_pool_from_fonts([folder / f for f in FONTS], CHARS)


@pytest.fixture(scope="module")
def pen(qapp):
    return CanvasPen()


def test_the_pool_is_characters_by_font_designs(pool):
    assert pool.chars == list(CHARS)
    designs = {pool.items[i].family for i in pool.by_class[0]}
    assert designs == {"Vera Sans", "Vera Serif", "Vera Sans Mono", "STIX"}


def test_canvas_round_trip_gives_the_windows_tensor(pool, pen):
    for i in pool.by_class[0][:2] + pool.by_class[5][:2]:
        item = pool.items[i]
        strokes, width = pool.source.strokes(item)
        drawing = pen.draw(strokes, width)
        assert drawing == pen.canvas.drawing() and drawing.width == width
        assert len(drawing.strokes) == len(strokes)
        assert np.allclose(np.array(drawing.strokes)[:, 0], np.array(strokes)[:, 0], atol=1e-12)
        done = render(pool, [i], [INK_28], pen, Rendered(), check_every=1, progress=False)
        made = done.inputs[("glyphs", i)][INK_28]
        assert done.direct_diff == 0.0  # the same strokes preprocessed without the canvas
        assert torch.equal(made, drawing.preprocess(INK_28))  # "Add to class"
        assert torch.equal(made, query_tensor(drawing, INK_28)[0])  # the query canvas
        # the glyph cache's own rendering of this face, character and seed
        cached, _ = render_glyph(pool.source.font(item.face), item.char, item.seed)
        assert np.abs(to_uint8(made).astype(int) - cached.astype(int)).max() <= 1


def test_kanjivg_strokes_are_the_caches_drawers(pen, tmp_path):
    svg = tmp_path / "04e8c.svg"  # a made-up two-stroke character in KanjiVG's layout
    svg.write_text('<svg><g><path d="M20,30c10,2 40,1 70,-2"/><path d="M50,10 L52,95"/></g></svg>')
    forms = {"二": [kanjivg.read_strokes(svg)]}
    item = Item("二", "plain", "drawer 3", 3, seed_of("kanjivg", "二", 3))
    strokes, width = KanjiSource(forms).strokes(item)
    made = pen.draw(strokes, width).preprocess(INK_28)
    cached = kanjivg.draw_kanji(forms["二"][0], item.seed, 28)
    assert len(strokes) == 2 and abs(width * CANVAS_SIZE - 5) < 1.5
    assert np.abs(to_uint8(made).astype(int) - cached.astype(int)).max() <= 1


def test_cross_family_queries_never_share_their_supports_family(pool):
    for cell in (Cell(5, 1, True), Cell(5, 3, True)):
        tasks = make_tasks(pool, cell, 30, 2, seed=5)
        for task in tasks:
            for support, queries in zip(task.support, task.queries):
                assert len(support) == cell.shots and queries
                seen = {pool.items[i].family for i in support}
                assert all(pool.items[i].family not in seen for i in queries)
                assert len({pool.items[i].char for i in (*support, *queries)}) == 1


def test_the_same_seed_gives_the_same_tasks(pool):
    cell = Cell(5, 1)
    a, b = make_tasks(pool, cell, 10, 2, seed=3), make_tasks(pool, cell, 10, 2, seed=3)
    assert a == b and a != make_tasks(pool, cell, 10, 2, seed=4)
    assert make_tasks(pool, Cell(20, 1), 1, 2, seed=3) is None  # 9 classes: no 20-way task
    task = a[0]
    assert len(set(task.classes)) == 5 and all(len(q) == 2 for q in task.queries)
    assert not set(task.items()[:5]) & set(task.items()[5:])  # no query is a support example


def test_accuracy_on_tasks_whose_answer_is_known(pool, pen):
    loaded = next(load_learner(CHECKPOINT, torch.device("cpu")))
    learner, spec = loaded.checkpoint.learner, loaded.checkpoint.preprocess
    classes = (0, 1, 2, 3, 4)
    firsts = tuple((pool.by_class[c][0],) for c in classes)
    done = render(pool, [i for (i,) in firsts], [spec], pen, Rendered(), progress=False)
    same = Task(classes, firsts, firsts)  # each query is its class's support drawing
    shifted = Task(classes, firsts, firsts[1:] + firsts[:1])  # each query another class's
    assert bench.run_task(learner, spec, pool, same, done, "cpu") == 1.0
    assert bench.run_task(learner, spec, pool, shifted, done, "cpu") == 0.0
    assert bench.accuracy(np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]]), [0, 1, 1]) == 2 / 3


def test_a_short_run_scores_and_reports(pool, pen, monkeypatch, capsys):
    monkeypatch.setattr(bench, "pools", lambda root, datasets, views: [pool])
    argv = "--checkpoint protonet-omniglot --tasks 3 --cells 5w1s 5w1s-cross --datasets glyphs"
    code = bench.main([*argv.split(), "--markdown", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    assert "protonet-omniglot | glyphs: 5w1s " in out
    assert "| checkpoint | 5-way 1-shot, same family allowed | 5-way 1-shot, cross-family |" in out


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--checkpoint", "no-such-learner"], "no such checkpoint"),
        (["--cells", "5x1"], "cell '5x1'"),
        (["--scripts", "Klingon"], "not a glyph script"),
        (["--data-root", "{tmp}"], "python -m core.data.glyphs build"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, says, tmp_path, capsys):
    code = bench.main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    err = capsys.readouterr().err
    assert code == 2 and says in err and len(err.strip().splitlines()) == 1
