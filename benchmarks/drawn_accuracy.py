"""Accuracy on held-out drawn letters, digits, kana and kanji, through the window's own path.

Issue "Drawings as people draw them": letters, digits, kana and kanji drawn in styles no
checkpoint has seen.

Tasks come from the test subsets of ``glyphs`` (held-out characters drawn in held-out font
designs, re-rendered from the font files the cache's manifest records) and ``kanjivg`` (held-out
characters by the cache's seeded drawers). Every drawing is replayed stroke by stroke on the
window's real canvas widget (offscreen), read back as its ``Drawing`` and made into model input by
the checkpoint's preprocessing exactly as the window does (``benchmarks/drawn/items.py``); each
task is a ``Session`` of those examples, adapted with the checkpoint's default adaptation
settings by ``metagui.app.compute.adapt`` and its queries classified by ``compute.classify`` (the
window's worker-thread generators). Cells: 5-way 1-shot, 5-way 5-shot, 20-way 1-shot (same
family allowed) and 20-way 1-shot / 5-way 1-shot cross-family (no query shares a font design, or
for KanjiVG a form, plain or Kaisho, with its class's support), the same seeded tasks for every
checkpoint; mean accuracy over tasks and its 95 % interval.

    QT_QPA_PLATFORM=offscreen python benchmarks/drawn_accuracy.py [--checkpoint shipped|NAME|PATH]
        [--tasks 200] [--datasets glyphs kanjivg] [--scripts Latin Digits] [--data-root DIR]
        [--threads 1] [--json OUT] [--markdown]

Targets (issue): held-out characters in held-out font families, 5-way 1-shot >= 97 %, 20-way
1-shot >= 92 %, also cross-family. Results: docs/drawn-accuracy.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path
from types import SimpleNamespace

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import torch
from drawn.items import CanvasPen, Pool, Rendered, glyph_pool, kanjivg_pool, render
from drawn.tasks import Cell, Task, make_tasks
from tqdm import tqdm

from core.checkpoint import CheckpointError
from core.cli import fail
from core.data.paths import DataNotFoundError, cache_dir, data_root
from core.evaluate import overlap_problem, summarize
from core.shipped import checkpoint_dir, resolve_checkpoint, shipped_checkpoints
from metagui.app import compute
from metagui.app.records import Step
from metagui.app.session import Example, Session

CELLS = ("5w1s", "5w5s", "20w1s", "20w1s-cross", "5w1s-cross")
SCRIPTS = ("Latin", "Digits", "Greek", "Cyrillic", "Symbols", "Hiragana", "Katakana", "CJK")
DEFAULT_VIEWS = (("Latin", "Digits"), ("Latin", "Digits", "Greek", "Cyrillic", "Symbols"))
TARGETS = {"5w1s": 0.97, "20w1s": 0.92, "5w1s-cross": 0.97, "20w1s-cross": 0.92}


def find_root(given: Path | None) -> Path:
    """``--data-root``, else the first of core's data root and the user cache holding a glyph
    or KanjiVG cache (``python -m core.data.glyphs build`` writes to either)."""
    if given is not None:
        return Path(given).expanduser()
    for root in (data_root(None), cache_dir()):
        if (root / "glyphs").is_dir() or (root / "kanjivg").is_dir():
            return root
    return data_root(None)


def pools(root: Path, datasets: list[str], views: list[list[str]]) -> list[Pool]:
    """The pools measured: all glyph test characters, a view per ``--scripts``, KanjiVG."""
    out = []
    if "glyphs" in datasets:
        glyphs = glyph_pool(root)
        out.append(glyphs)
        out += [glyphs.view(v, "glyphs: " + " + ".join(v)) for v in views]
    if "kanjivg" in datasets:
        out.append(kanjivg_pool(root))
    return out


def accuracy(probs: np.ndarray, truth: np.ndarray) -> float:
    """Fraction of queries whose most probable class is their own."""
    return float((np.asarray(probs).argmax(1) == np.asarray(truth)).mean())


def example(rendered: Rendered, pool: Pool, i: int, spec) -> Example:
    """The example "Add to class" makes of the item's canvas drawing (its input kept, not the
    strokes: 20,000 drawings' points would take gigabytes)."""
    return Example(rendered.inputs[(pool.dataset, i)][spec], "drawing", None, spec=spec)


def run_task(learner, spec, pool: Pool, task: Task, rendered: Rendered, device) -> float:
    """Adapt to the task's support set with the default settings, classify its queries (the
    window's ``compute.adapt`` then ``compute.classify``); the task's accuracy."""
    session = Session([pool.chars[c] for c in task.classes])
    for label, row in enumerate(task.support):
        session.add_examples(label, [example(rendered, pool, i, spec) for i in row])
    support = session.support_set(spec)
    queries = [example(rendered, pool, i, spec) for row in task.queries for i in row]
    truth = [label for label, row in enumerate(task.queries) for _ in row]
    classifier = None
    for record in compute.adapt(learner, spec, support, (), None, None, device):
        if isinstance(record, Step) and record.step == record.total_steps:
            classifier = record.classifier
            break
    prediction = next(compute.classify(classifier, queries, 0, spec, device, support))
    return accuracy(prediction.probs, truth)


def bank(pool: Pool) -> SimpleNamespace:
    """What ``core.evaluate.overlap_problem`` reads of a dataset: its classes and families."""
    faces = getattr(pool.source, "faces", None)
    used = [pool.items[i].face for r in pool.by_class for i in r] if faces else []
    families = {faces[f]["family"] for f in used}
    return SimpleNamespace(name=pool.dataset, subset="test", characters=frozenset(pool.chars),
                           families=tuple(sorted(families)))  # fmt: skip


def measure(path: Path, plan, rendered: Rendered, device, progress: bool) -> dict:
    """Every cell of ``plan`` (pool, cell, tasks) for one checkpoint."""
    loaded = next(compute.load_learner(path, device))
    learner, spec = loaded.checkpoint.learner, loaded.checkpoint.preprocess
    row = {"learner": learner.name, "defaults": list(learner.adapt_defaults()), "cells": {}}
    total = sum(len(tasks) for _, _, tasks in plan if tasks)
    bar = tqdm(total=total, desc=path.stem, unit="task", disable=not progress)
    for pool, cell, tasks in plan:
        cells = row["cells"].setdefault(pool.name, {})
        problem = overlap_problem(loaded.checkpoint.metadata, bank(pool))
        ways = learner.capabilities.max_ways
        if problem or not tasks or (ways is not None and cell.ways > ways):
            why = problem or ("fewer classes than ways" if not tasks else f"at most {ways} ways")
            cells[cell.key] = {"skipped": why}
            bar.update(len(tasks or ()))
            continue
        start = time.perf_counter()
        accs = []
        for task in tasks:
            accs.append(run_task(learner, spec, pool, task, rendered, device))
            bar.update(1)
        s = summarize(accs)
        cells[cell.key] = {"accuracy": s.mean, "ci95": s.ci95, "tasks": s.episodes,
                           "queries": sum(len(r) for t in tasks for r in t.queries),
                           "seconds": round(time.perf_counter() - start, 2)}  # fmt: skip
    bar.close()
    return row


def pct(c: dict | None) -> str:
    if not c:
        return "–"
    if "skipped" in c:
        return "n/a"
    return f"{100 * c['accuracy']:.2f} ± {100 * c['ci95']:.2f}"


def markdown(doc: dict) -> str:
    """One table per pool: a row per checkpoint, a column per cell (best of a column in bold)."""
    cfg = doc["config"]
    lines = [f"`{cfg['command']}`", "",
             f"{cfg['tasks']} seeded tasks per cell (seed {cfg['seed']}), up to {cfg['queries']} "
             f"queries per class, the checkpoint's default adaptation settings; mean accuracy "
             f"(%) over tasks ± 95 % interval. {doc['load']}."]  # fmt: skip
    cells = [Cell.parse(k) for k in cfg["cells"]]
    for p in doc["pools"]:
        lines += ["", f"**{p['name']}** ({p['classes']} classes, {p['items']} drawings)", ""]
        lines.append("| checkpoint | " + " | ".join(c.title for c in cells) + " |")
        lines.append("|---" * (len(cells) + 1) + "|")
        rows = [r["cells"].get(p["name"], {}) for r in doc["results"].values()]
        best = {c.key: max(g.get(c.key, {}).get("accuracy", -1) for g in rows) for c in cells}
        for name, r in doc["results"].items():
            got = r["cells"].get(p["name"], {})
            texts = []
            for c in cells:
                t = pct(got.get(c.key))
                if got.get(c.key, {}).get("accuracy", -2) == best[c.key]:
                    t = f"**{t}**"
                texts.append(t)
            lines.append(f"| {name} | " + " | ".join(texts) + " |")
    return "\n".join(lines)


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", action="append", default=None, metavar="NAME|PATH",
                   help="a checkpoint file or a shipped one's name; `shipped`: every shipped "
                   "checkpoint (repeat; default: shipped)")  # fmt: skip
    p.add_argument("--tasks", type=int, default=200, help="seeded tasks per cell (default 200)")
    p.add_argument(
        "--queries",
        type=int,
        default=2,
        help="queries per class (fewer when a class has fewer drawings left)",
    )
    p.add_argument(
        "--cells",
        nargs="+",
        default=list(CELLS),
        metavar="CELL",
        help=f"WAYSwSHOTSs[-cross] (default: {' '.join(CELLS)})",
    )
    p.add_argument(
        "--datasets", nargs="+", default=["glyphs", "kanjivg"], choices=("glyphs", "kanjivg")
    )
    p.add_argument("--scripts", nargs="+", action="append", default=None, metavar="SCRIPT",
                   help="also score glyph test characters of these scripts alone (repeat for "
                   f"more views; of {', '.join(SCRIPTS)}; default: Latin Digits, and Latin "
                   "Digits Greek Cyrillic Symbols; `--scripts none`: no view)")  # fmt: skip
    p.add_argument("--data-root", type=Path, default=None,
                   help="folder holding glyphs/ and kanjivg/ (default: $METAGUI_DATA or the user "
                   "cache, the first that has them)")  # fmt: skip
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", type=Path, default=None, metavar="OUT",
                   help="write the results here after each checkpoint (a finished checkpoint "
                   "of the same configuration is not measured again)")  # fmt: skip
    p.add_argument("--markdown", action="store_true", help="print the README table")
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.tasks < 1 or args.queries < 1 or args.threads < 1:
        return fail("--tasks, --queries and --threads must be at least 1")
    try:
        cells = [Cell.parse(c) for c in args.cells]
    except ValueError as exc:
        return fail(str(exc))
    views = [list(v) for v in DEFAULT_VIEWS] if args.scripts is None else args.scripts
    views = [v for v in views if v != ["none"]]
    bad = sorted({s for v in views for s in v} - set(SCRIPTS))
    if bad:
        return fail(f"--scripts {bad[0]}: not a glyph script; choose from {', '.join(SCRIPTS)}")
    paths = []
    for c in args.checkpoint or ["shipped"]:
        paths += shipped_checkpoints() if c == "shipped" else [resolve_checkpoint(c)]
    missing = [p for p in paths if not p.is_file()]
    if not paths or missing:
        return fail(f"{missing[0]}: no such checkpoint" if missing else "no shipped checkpoints")
    root = find_root(args.data_root)
    try:
        measured = pools(root, args.datasets, views)
    except (DataNotFoundError, ValueError, OSError) as exc:
        return fail(str(exc).splitlines()[0])
    torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    progress = not args.no_progress
    wall = time.perf_counter()
    plan = [(pool, cell, make_tasks(pool, cell, args.tasks, args.queries, args.seed))
            for pool in measured for cell in cells]  # fmt: skip
    try:  # every checkpoint's spec, read before any drawing
        specs = list(dict.fromkeys(next(compute.load_learner(p, device)).checkpoint.preprocess
                                   for p in paths))  # fmt: skip
    except CheckpointError as exc:
        return fail(str(exc).splitlines()[0])
    pen, rendered = CanvasPen(), Rendered()
    for pool in measured:
        wanted = [i for p, _, tasks in plan if p is pool for t in tasks or () for i in t.items()]
        try:
            render(pool, wanted, specs, pen, rendered, progress=progress)
        except (OSError, ValueError) as exc:
            return fail(f"{pool.name}: {exc}")
    command = "python benchmarks/drawn_accuracy.py " + shlex.join(sys.argv[1:] if argv is None
                                                                  else argv)  # fmt: skip
    config = {"tasks": args.tasks, "queries": args.queries, "seed": args.seed,
              "cells": [c.key for c in cells], "pools": [p.name for p in measured],
              "root": str(root), "command": command.strip(), "threads": args.threads}  # fmt: skip
    old = json.loads(args.json.read_text()) if args.json and args.json.is_file() else {}
    same = {k: v for k, v in old.get("config", {}).items() if k != "command"} == {
        k: v for k, v in config.items() if k != "command"
    }
    results = dict(old.get("results", {})) if same else {}
    diffs = {d: (max(v), float(np.mean(np.array(v) > 1)))
             for d, v in rendered.cache_diff.items() if v}  # fmt: skip
    doc = {"config": config, "results": results,
           "pools": [{"name": p.name, "classes": len(p.chars),
                      "items": sum(len(r) for r in p.by_class)} for p in measured],
           "drawing": {"items": len(rendered.inputs), "seconds": round(rendered.seconds, 1),
                       "canvas_vs_strokes_max_diff": rendered.direct_diff,
                       "canvas_vs_cache_max_diff_255": {d: v[0] for d, v in diffs.items()},
                       "canvas_vs_cache_share_over_1": {d: v[1] for d, v in diffs.items()},
                       }}  # fmt: skip
    for path in paths:
        name = path.stem if path.parent == checkpoint_dir() else f"{path.parent.name}/{path.stem}"
        if name not in results:
            start = time.perf_counter()
            results[name] = measure(path, plan, rendered, device, progress)
            results[name]["seconds"] = round(time.perf_counter() - start, 1)
        load = os.getloadavg()
        doc["load"] = (f"load average {load[0]:.2f} on {os.cpu_count()} CPUs, torch threads "
                       f"{args.threads}, {(time.perf_counter() - wall) / 60:.1f} min")  # fmt: skip
        if args.json:
            args.json.write_text(json.dumps(doc, indent=1, ensure_ascii=False))
        for pool in measured:
            got = results[name]["cells"].get(pool.name, {})
            print(f"{name} | {pool.name}: " + ", ".join(f"{c.key} {pct(got.get(c.key))}"
                                                         for c in cells), flush=True)  # fmt: skip
    print(
        f"drew {len(rendered.inputs)} drawings on the canvas in {rendered.seconds:.0f} s; "
        f"canvas vs the same strokes without it: max diff {rendered.direct_diff:g}; vs the "
        "cached images (of 255): " + ", ".join(f"{d} max {v[0]:.2f}" for d, v in diffs.items())
    )
    print(doc["load"])
    if args.markdown:
        print(markdown(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
