"""End to end on generated data in each real layout: train a few steps with each backbone and
each learner family (``core.train --dataset ... --backbone ...``), evaluate, predict photos."""

from __future__ import annotations

import json

import pytest
from test_datasets import class_tree, make_cifar, make_mini

from core import evaluate, predict, train
from core.checkpoint import load_checkpoint

TINY = [
    "--ways", "3", "--shots", "1", "--queries", "2", "--episodes", "2", "--val-every", "2",
    "--val-episodes", "2", "--val-ways", "2", "--val-queries", "1", "--threads", "1",
    "--hidden", "8",
]  # fmt: skip
GRADIENT = ["--inner-steps", "1", "--adapt-steps", "1"]


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    """One small dataset per layout: mini-ImageNet (images/ + Ravi CSVs), CIFAR-100 pickles
    with the CIFAR-FS split, and a folder of class sub-folders with train/ val/ test/."""
    base = tmp_path_factory.mktemp("layouts")
    mini = make_mini(base / "mini", "ravi", per_class=4)
    make_cifar(base / "cifar" / "cifar-fs" / "cifar-100-python", per_train=2, per_test=1)
    folder = base / "folder"
    for subset in ("train", "val", "test"):
        class_tree(folder / subset, {f"{subset}{k}": 4 for k in range(3)}, seed=len(subset))
    return {"miniimagenet": mini, "cifar-fs": base / "cifar", "folder": folder}


CASES = [  # (dataset, algorithm, backbone, input size): every backbone, every family
    ("miniimagenet", "protonet", "resnet12", 32),
    ("miniimagenet", "maml", "conv4", 32),
    ("cifar-fs", "anil", "resnet18", 32),
    ("cifar-fs", "matching", "resnet12", 16),
    ("folder", "fomaml", "resnet12", 16),
    ("folder", "relation", "conv4", 32),
    ("folder", "reptile", "resnet18", 16),
    ("cifar-fs", "metasgd", "conv4", 32),
]


@pytest.mark.parametrize(("dataset", "algorithm", "backbone", "size"), CASES)
def test_train_evaluate_predict(roots, tmp_path, capsys, dataset, algorithm, backbone, size):
    root = roots[dataset]
    out = tmp_path / "run"
    args = ["--algorithm", algorithm, "--dataset", dataset, "--data-root", str(root)]
    args += ["--backbone", backbone, "--input-size", str(size), "--out", str(out), *TINY]
    if algorithm not in ("protonet", "matching", "relation"):
        args += GRADIENT
    assert train.main(args) == 0, capsys.readouterr().err
    ckpt = load_checkpoint(out / "best.pt")
    meta = ckpt.metadata
    assert meta["backbone"] == backbone == ckpt.learner.config.backbone
    assert meta["dataset"]["name"] == dataset and meta["preprocess"]["kind"] == "rgb"
    assert ckpt.preprocess.size == size and ckpt.learner.config.in_channels == 3
    capsys.readouterr()

    # evaluate reads dataset and preprocessing from the checkpoint (a folder: its own root)
    ev = ["--checkpoint", str(out / "best.pt"), "--ways", "3", "--shots", "1", "--queries", "1"]
    ev += ["--episodes", "2", "--json"]
    if dataset != "folder":
        ev += ["--data-root", str(root)]
    assert evaluate.main(ev) == 0, capsys.readouterr().err
    doc = json.loads(capsys.readouterr().out)
    assert doc["dataset"] == dataset and 0 <= doc["accuracy"] <= 1 and doc["episodes"] == 2

    # predict photos of any size and mode with the checkpoint's spec
    if dataset == "folder":
        support, query = root / "test", next((root / "test" / "test0").iterdir())
        pr = ["--checkpoint", str(out / "best.pt"), "--support", str(support)]
        assert predict.main([*pr, "--query", str(query), "--json"]) == 0
        (row,) = json.loads(capsys.readouterr().out)["predictions"]
        assert set(row["probabilities"]) == {"test0", "test1", "test2"}


def test_training_on_one_dataset_and_evaluating_on_another(roots, tmp_path, capsys):
    """Cross-domain: a CIFAR-FS checkpoint scored on a folder of photos (resized by its spec)."""
    out = tmp_path / "run"
    args = ["--dataset", "cifar-fs", "--data-root", str(roots["cifar-fs"]), "--out", str(out)]
    assert train.main([*args, *TINY]) == 0
    ev = ["--checkpoint", str(out / "best.pt"), "--dataset", "folder"]
    ev += ["--data-root", str(roots["folder"]), "--ways", "3", "--queries", "1"]
    assert evaluate.main([*ev, "--episodes", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["dataset"] == "folder"


def test_folder_dataset_needs_its_folder_and_says_what_is_wrong(tmp_path, capsys):
    assert train.main(["--dataset", "folder", "--out", str(tmp_path / "run"), *TINY]) == 2
    assert "--dataset folder needs --data-root" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    args = ["--dataset", "folder", "--data-root", str(empty), "--out", str(tmp_path / "r")]
    assert train.main([*args, *TINY]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(empty) in err
    args = ["--dataset", "cifar-fs", "--data-root", str(empty), "--in-channels", "1"]
    assert train.main([*args, "--out", str(tmp_path / "r"), *TINY]) == 2
    assert "--in-channels 1 does not match" in capsys.readouterr().err
