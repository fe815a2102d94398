"""Seeded N-way K-shot tasks of a ``Pool``, the same for every checkpoint.

A cell is ``ways``-way ``shots``-shot, same family allowed or ``cross`` (cross-family: each
class's queries all come from one family, its support examples from the others, so no query
shares a font design, or a KanjiVG form, with its class's support). Each class gets ``queries``
queries, or as many as it has left after its shots (at least one); a class takes part in a cell
only when it has that many items (and, cross-family, two families that allow it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from core.data.glyphs import seed_of

from .items import Pool


@dataclass(frozen=True)
class Cell:
    ways: int
    shots: int
    cross: bool = False

    @property
    def key(self) -> str:
        return f"{self.ways}w{self.shots}s" + ("-cross" if self.cross else "")

    @property
    def title(self) -> str:
        family = "cross-family" if self.cross else "same family allowed"
        return f"{self.ways}-way {self.shots}-shot, {family}"

    @classmethod
    def parse(cls, text: str) -> Cell:
        m = re.fullmatch(r"(\d+)w(\d+)s(-cross)?", text)
        if not m or int(m.group(1)) < 2 or int(m.group(2)) < 1:
            raise ValueError(f"cell {text!r}: write WAYSwSHOTSs, e.g. 5w1s or 20w1s-cross")
        return cls(int(m.group(1)), int(m.group(2)), bool(m.group(3)))


@dataclass(frozen=True)
class Task:
    """``classes``: indices into the pool's classes; ``support``/``queries``: per class, item
    indices into ``pool.items``."""

    classes: tuple[int, ...]
    support: tuple[tuple[int, ...], ...]
    queries: tuple[tuple[int, ...], ...]

    def items(self) -> list[int]:
        return [i for rows in (self.support, self.queries) for row in rows for i in row]


def _query_families(pool: Pool, rows: list[int], shots: int) -> list[str]:
    """The families a cross-family query can come from: the others hold ``shots`` items."""
    fams = [pool.items[i].family for i in rows]
    return sorted(f for f in set(fams) if sum(g != f for g in fams) >= shots)


def eligible(pool: Pool, cell: Cell) -> list[int]:
    """The classes of ``pool`` that can take part in ``cell``."""
    rows = pool.by_class
    if cell.cross:
        return [c for c, r in enumerate(rows) if _query_families(pool, r, cell.shots)]
    return [c for c, r in enumerate(rows) if len(r) > cell.shots]


def sample_task(pool: Pool, cell: Cell, classes: list[int], queries: int,
                rng: np.random.Generator) -> Task:  # fmt: skip
    chosen = sorted(rng.choice(classes, cell.ways, replace=False).tolist())
    support, query = [], []
    for c in chosen:
        rows = pool.by_class[c]
        if cell.cross:
            fams = _query_families(pool, rows, cell.shots)
            f = fams[int(rng.integers(len(fams)))]
            inside = [i for i in rows if pool.items[i].family == f]
            outside = [i for i in rows if pool.items[i].family != f]
            s = rng.choice(outside, cell.shots, replace=False)
            q = rng.choice(inside, min(queries, len(inside)), replace=False)
        else:
            perm = rng.permutation(rows)
            s, q = perm[: cell.shots], perm[cell.shots : cell.shots + queries]
        support.append(tuple(int(i) for i in s))
        query.append(tuple(int(i) for i in q))
    return Task(tuple(chosen), tuple(support), tuple(query))


def make_tasks(pool: Pool, cell: Cell, n: int, queries: int, seed: int) -> list[Task] | None:
    """``n`` tasks of ``cell``, task ``t`` seeded by (``seed``, pool, cell, ``t``); None when the
    pool has fewer eligible classes than ``cell.ways``."""
    classes = eligible(pool, cell)
    if len(classes) < cell.ways:
        return None
    return [sample_task(pool, cell, classes, queries,
                        np.random.default_rng(seed_of(seed, pool.name, cell.key, t)))
            for t in range(n)]  # fmt: skip
