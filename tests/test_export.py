"""``python -m core.export``: TorchScript and ONNX files give core.predict's probabilities."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from core import export, predict
from core.algorithms import build_learner
from core.checkpoint import load_checkpoint, save_checkpoint

SHAPES = {
    "bar": [((20, 50), (80, 50))],
    "cross": [((20, 20), (80, 80)), ((80, 20), (20, 80))],
    "corner": [((20, 20), (20, 80)), ((20, 80), (80, 80))],
}


def _image(lines, jitter: int, rgb: bool) -> Image.Image:
    img = Image.new("RGB" if rgb else "L", (105, 105), "white")
    pen = ImageDraw.Draw(img)
    for a, b in lines:
        a, b = (a[0] + jitter, a[1]), (b[0], b[1] + jitter)
        pen.line([a, b], fill=(200, 30, 30) if rgb else 0, width=6)
    return img


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("export")
    for rgb in (False, True):
        for name, lines in SHAPES.items():
            folder = root / ("rgb" if rgb else "ink") / "support" / name
            folder.mkdir(parents=True)
            for i in range(2):
                _image(lines, 3 * i, rgb).save(folder / f"{i}.png")
        query = root / ("rgb" if rgb else "ink") / "query"
        query.mkdir()
        for name, lines in SHAPES.items():
            _image(lines, 5, rgb).save(query / f"{name}.png")
    return root / "ink", root / "rgb"


def _checkpoint(tmp_path: Path, algorithm: str, config: dict, metadata: dict) -> Path:
    torch.manual_seed(0)
    path = tmp_path / f"{algorithm}.pt"
    save_checkpoint(path, build_learner(algorithm, config), metadata)
    return path


def _predicted(capsys, checkpoint: Path, root: Path) -> tuple[list[str], np.ndarray]:
    code = predict.main(
        ["--checkpoint", str(checkpoint), "--support", str(root / "support"), "--query",
         str(root / "query"), "--json", "--device", "cpu"]
    )  # fmt: skip
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    rows = [[row["probabilities"][n] for n in doc["classes"]] for row in doc["predictions"]]
    return doc["classes"], np.array(rows)


def _queries(checkpoint: Path, root: Path) -> torch.Tensor:
    spec = load_checkpoint(checkpoint, torch.device("cpu")).preprocess
    return torch.stack([spec.file(p) for p in sorted((root / "query").iterdir())])


@pytest.mark.parametrize(
    "algorithm,config",
    [
        ("protonet", {}),
        ("protonet", {"adapt_steps": 5}),
        ("matching", {}),
        ("relation", {}),
        ("anil", {"adapt_steps": 3}),
        ("maml", {"adapt_steps": 2}),
        ("metasgd", {"adapt_steps": 1}),
    ],
)
def test_both_formats_give_core_predicts_probabilities(
    tmp_path, capsys, folders, algorithm, config
):
    ink, _ = folders
    checkpoint = _checkpoint(
        tmp_path, algorithm, config, {"split": "vinyals", "preprocess": {"kind": "ink", "size": 28}}
    )
    names, expected = _predicted(capsys, checkpoint, ink)
    queries = _queries(checkpoint, ink)
    for suffix in (".pt", ".onnx"):
        out = tmp_path / f"model{suffix}"
        argv = ["--checkpoint", str(checkpoint), "--support", str(ink / "support")]
        assert export.main([*argv, "--out", str(out), "--device", "cpu"]) == 0
        if suffix == ".pt":
            module = torch.jit.load(str(out))
            assert list(module.class_names) == names
            probs = module(queries).detach().numpy()
        else:
            ort = pytest.importorskip("onnxruntime")
            session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
            meta = session.get_modelmeta().custom_metadata_map
            assert json.loads(meta["class_names"]) == names
            assert json.loads(meta["preprocess"])["kind"] == "ink"
            (probs,) = session.run(None, {"images": queries.numpy()})
        assert probs.shape == (3, 3)
        np.testing.assert_allclose(probs, expected, atol=2e-4, err_msg=f"{algorithm} {suffix}")
        single = module(queries[:1]).detach().numpy() if suffix == ".pt" else None
        if single is not None:  # any batch size, not the traced one
            np.testing.assert_allclose(single, expected[:1], atol=2e-4)


def test_rgb_resnet_checkpoint_exports(tmp_path, capsys, folders):
    _, rgb = folders
    config = {"backbone": "resnet12", "in_channels": 3, "input_size": 32, "hidden": 8}
    metadata = {"preprocess": {"kind": "rgb", "size": 32}}
    checkpoint = _checkpoint(tmp_path, "protonet", config, metadata)
    _, expected = _predicted(capsys, checkpoint, rgb)
    out = tmp_path / "rgb.onnx"
    assert export.main(["--checkpoint", str(checkpoint), "--support", str(rgb / "support"),
                        "--out", str(out), "--device", "cpu"]) == 0  # fmt: skip
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (probs,) = session.run(None, {"images": _queries(checkpoint, rgb).numpy()})
    np.testing.assert_allclose(probs, expected, atol=2e-4)


@pytest.mark.parametrize(
    "problem,expected",
    [
        ("suffix", "must end in .pt or .onnx"),
        ("support", "is not a folder"),
        ("one-class", "at least two class sub-folders"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, folders, problem, expected):
    ink, _ = folders
    checkpoint = _checkpoint(
        tmp_path, "protonet", {}, {"split": "vinyals", "preprocess": {"kind": "ink", "size": 28}}
    )
    support, out = ink / "support", tmp_path / "model.pt"
    if problem == "suffix":
        out = tmp_path / "model.zip"
    elif problem == "support":
        support = tmp_path / "missing"
    else:
        support = tmp_path / "one"
        (support / "only").mkdir(parents=True)
    argv = ["--checkpoint", str(checkpoint), "--support", str(support), "--out", str(out)]
    assert export.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and "\n" not in err
    assert not out.exists()
