"""``core.train --vary-shots``: each training episode keeps 1..--shots support images per class."""

from __future__ import annotations

import torch
from test_cli import TINY_TRAIN

from core import train
from core.checkpoint import load_checkpoint
from core.data.episodes import Episode, fewer_shots
from core.training import trainer


def _episode(ways=3, shots=4, queries=2) -> Episode:
    support = torch.arange(ways * shots, dtype=torch.float32).view(-1, 1, 1, 1)
    query = torch.zeros(ways * queries, 1, 1, 1)
    return Episode(
        support,
        torch.arange(ways).repeat_interleave(shots),
        query,
        torch.arange(ways).repeat_interleave(queries),
        tuple(f"c{i}" for i in range(ways)),
    )


def test_keeps_the_first_k_of_every_class_and_every_query():
    ep, seen = _episode(), set()
    for seed in range(40):
        out = fewer_shots(ep, torch.Generator().manual_seed(seed))
        k = len(out.support_labels) // 3
        seen.add(k)
        assert out.support_labels.tolist() == [c for c in range(3) for _ in range(k)]
        # class c's images are c*4 .. c*4+3 in order: the first k of each are kept
        assert out.support.flatten().tolist() == [c * 4 + i for c in range(3) for i in range(k)]
        assert out.query is ep.query and out.query_labels is ep.query_labels
    assert seen == {1, 2, 3, 4}
    a = fewer_shots(ep, torch.Generator().manual_seed(7))
    assert torch.equal(a.support, fewer_shots(ep, torch.Generator().manual_seed(7)).support)


def test_a_run_trains_on_varying_shots_and_resumes_with_them(tiny_root, tmp_path, monkeypatch):
    sizes = []

    def spy(ep, generator):
        out = fewer_shots(ep, generator)
        sizes.append(len(out.support_labels) // out.n_way)
        return out

    monkeypatch.setattr(trainer, "fewer_shots", spy)
    out = tmp_path / "run"
    args = ["--algorithm", "relation", "--data-root", str(tiny_root), "--out", str(out)]
    args += [*TINY_TRAIN, "--shots", "3", "--vary-shots", "--episodes", "12"]
    assert train.main(args) == 0
    assert len(sizes) == 12 and set(sizes) == {1, 2, 3}
    assert load_checkpoint(out / "last.pt").metadata["train_config"]["vary_shots"] is True
    sizes.clear()
    assert train.main(["--resume", "--out", str(out), "--episodes", "14"]) == 0
    assert len(sizes) == 2  # the resumed run still varies its shots
