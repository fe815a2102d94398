"""Meta-training on several processes (gloo on loopback): the same weights as one process, a
lost rank ends the run with a message, resume across world sizes, mixed precision."""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from test_cli import TINY_TRAIN

from core import train
from core.algorithms import build_learner
from core.checkpoint import load_checkpoint
from core.data.episodes import Episode
from core.training.distributed import DistContext, query_share, share

TORCHRUN = Path(sys.executable).with_name("torchrun")


def torchrun(nproc: int, args: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    cmd = [str(TORCHRUN), "--standalone", "--nproc_per_node", str(nproc), "-m", "core.train"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [*cmd, *args], capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


@pytest.mark.parametrize("algorithm", ["protonet", "fomaml"])
def test_two_processes_end_with_the_weights_of_one(tiny_root, tmp_path, algorithm):
    args = ["--algorithm", algorithm, "--data-root", str(tiny_root), *TINY_TRAIN]
    args += ["--meta-batch", "2", "--episodes", "3", "--val-every", "3", "--val-episodes", "1"]
    if algorithm == "fomaml":
        args += ["--inner-steps", "2"]
    runs = {}
    for n in (1, 2):
        out = tmp_path / f"world{n}"
        result = torchrun(n, [*args, "--out", str(out)])
        assert result.returncode == 0, result.stderr[-2000:]
        runs[n] = load_checkpoint(out / "last.pt")
    assert runs[2].metadata["world_size"] == 2 and runs[1].metadata["world_size"] == 1
    assert runs[2].training_state["step"] == 3
    # the weights; BatchNorm running statistics are averaged over ranks, not sequential
    one, two = dict(runs[1].learner.named_parameters()), dict(runs[2].learner.named_parameters())
    for name, value in one.items():
        torch.testing.assert_close(two[name], value, rtol=1e-4, atol=1e-5, msg=name)
    torch.manual_seed(0)  # core.train seeds the initial weights with --seed (0)
    initial = build_learner(algorithm, dataclasses.asdict(runs[1].learner.config)).state_dict()
    assert any(not torch.equal(initial[k], one[k].detach()) for k in one), "nothing trained"


def test_a_lost_rank_ends_the_run_with_a_message_and_it_resumes(tiny_root, tmp_path):
    """Rank 1 is killed mid-run: rank 0 stops (error or timeout on its collective) with a
    one-line message and a resumable last.pt; a single process then finishes the run."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = [sys.executable, "-m", "core.train", "--data-root", str(tiny_root), *TINY_TRAIN]
    args += ["--meta-batch", "2", "--episodes", "100000", "--dist-timeout", "30"]
    args += ["--out", str(tmp_path)]
    procs = []
    for rank in (0, 1):
        env = {**os.environ, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2"}
        env.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS="1")
        procs.append(subprocess.Popen(args, env=env, stderr=subprocess.PIPE, text=True))
    try:
        deadline = time.monotonic() + 300
        while not (tmp_path / "last.pt").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert (tmp_path / "last.pt").exists(), "no validation within 5 minutes"
        procs[1].send_signal(signal.SIGKILL)
        started = time.monotonic()
        _, err = procs[0].communicate(timeout=120)
        assert time.monotonic() - started < 60  # the error or the 30 s timeout, not a hang
    finally:
        for p in procs:
            p.kill()
    assert procs[0].returncode == 1, err[-2000:]
    line = [x for x in err.splitlines() if x.startswith("error:")]
    assert len(line) == 1 and "lost the other processes" in line[0] and "--resume" in line[0]
    step = load_checkpoint(tmp_path / "last.pt").training_state["step"]
    more = ["--resume", "--out", str(tmp_path), "--episodes", str(step + 2)]
    result = subprocess.run([sys.executable, "-m", "core.train", *more], capture_output=True,
                            text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "trained on 2 process(es), continuing on 1" in result.stderr
    assert load_checkpoint(tmp_path / "last.pt").training_state["step"] == step + 2


def test_a_single_process_run_does_not_resume_under_torchrun(tiny_root, tmp_path):
    args = ["--data-root", str(tiny_root), "--out", str(tmp_path), *TINY_TRAIN]
    assert train.main(["--episodes", "2", *args]) == 0
    result = torchrun(2, ["--resume", "--out", str(tmp_path), "--episodes", "4"])
    assert result.returncode != 0  # torchrun reports its workers' exit code 2 as a failure
    assert "error: this run was started as one process" in result.stderr
    assert "resume it without torchrun" in result.stderr


def _episode(ways=3, shots=1, queries=5) -> Episode:
    labels = torch.arange(ways)
    return Episode(
        torch.zeros(ways * shots, 1, 4, 4), labels.repeat_interleave(shots),
        torch.arange(ways * queries, dtype=torch.float32).view(-1, 1, 1, 1).expand(-1, 1, 4, 4),
        labels.repeat_interleave(queries), tuple("abc"[:ways]),
    )  # fmt: skip


def test_meta_batch_and_query_shares():
    assert share(DistContext(1, 2), 4).indices == (2, 3)
    assert not share(DistContext(1, 2), 4).split_queries
    whole = share(DistContext(1, 2), 1)
    assert whole.indices == (0,) and whole.split_queries
    ep = _episode()
    parts = [query_share(ep, DistContext(r, 2)) for r in (0, 1)]
    assert [len(p.query_labels) for p in parts] == [9, 6]  # 3 + 2 queries of each class
    for p in parts:
        assert torch.equal(p.support, ep.support)
        assert torch.bincount(p.query_labels).tolist() == [len(p.query_labels) // 3] * 3
    seen = sorted(float(x) for p in parts for x in p.query[:, 0, 0, 0])
    assert seen == [float(i) for i in range(15)]  # every query on exactly one rank


def test_amp_is_refused_where_it_does_not_apply(tiny_root, tmp_path, capsys):
    common = ["--data-root", str(tiny_root), *TINY_TRAIN, "--episodes", "2", "--amp", "bf16"]
    assert train.main(["--algorithm", "maml", "--out", str(tmp_path / "m"), *common]) == 2
    assert "second-order maml stays in float32" in capsys.readouterr().err
    fp16 = [*common[:-1], "fp16", "--device", "cpu"]
    assert train.main(["--out", str(tmp_path / "p"), *fp16]) == 2
    assert "--amp fp16 needs --device cuda; on the CPU use --amp bf16" in capsys.readouterr().err
    assert not (tmp_path / "m").exists() and not (tmp_path / "p").exists()


@pytest.mark.parametrize("algorithm", ["protonet", "matching", "relation"])
def test_bf16_on_the_cpu_trains_and_keeps_float32_weights(tiny_root, tmp_path, algorithm):
    """CPU autocast (bfloat16 convolutions, on AMX/AVX-512 a ~1.8x faster ProtoNet step here);
    the weights, optimiser state and checkpoint stay float32."""
    args = ["--algorithm", algorithm, "--data-root", str(tiny_root), *TINY_TRAIN]
    args += ["--episodes", "2", "--device", "cpu", "--amp", "bf16", "--out", str(tmp_path)]
    assert train.main(args) == 0
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert ckpt.training_state["step"] == 2
    assert all(p.dtype == torch.float32 for p in ckpt.learner.parameters())


def test_bf16_on_the_cpu_is_refused_for_inner_loops(tiny_root, tmp_path, capsys):
    args = ["--algorithm", "fomaml", "--data-root", str(tiny_root), *TINY_TRAIN]
    args += ["--episodes", "2", "--device", "cpu", "--amp", "bf16", "--out", str(tmp_path / "f")]
    assert train.main(args) == 2
    assert "fomaml needs --device cuda" in capsys.readouterr().err
    assert not (tmp_path / "f").exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none here)")
@pytest.mark.parametrize(("algorithm", "amp"), [("protonet", "fp16"), ("fomaml", "bf16")])
def test_cuda_and_mixed_precision(tiny_root, tmp_path, algorithm, amp):
    args = ["--algorithm", algorithm, "--data-root", str(tiny_root), *TINY_TRAIN]
    args += ["--episodes", "2", "--device", "cuda", "--amp", amp, "--out", str(tmp_path)]
    assert train.main(args) == 0
    state = load_checkpoint(tmp_path / "last.pt").training_state
    assert state["step"] == 2 and ("scaler" in state) == (amp == "fp16")
