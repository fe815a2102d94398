"""Checkpoint round trip and clear errors for missing, truncated, foreign and hostile files."""

from __future__ import annotations

import pickle

import pytest
import torch

from core.algorithms import build_learner
from core.checkpoint import CheckpointError, load_checkpoint, read_checkpoint_file, save_checkpoint


def test_round_trip_keeps_weights_config_and_metadata(tmp_path):
    learner = build_learner("protonet", {"adapt_steps": 3})
    path = tmp_path / "model.pt"
    save_checkpoint(path, learner, {"split": "vinyals", "metrics": {"acc": 0.5}})
    loaded = load_checkpoint(path)
    assert loaded.learner.config == learner.config
    assert loaded.metadata["metrics"] == {"acc": 0.5}
    for k, v in learner.state_dict().items():
        assert torch.equal(loaded.learner.state_dict()[k], v)
    assert not list(tmp_path.glob("*.tmp")), "atomic write left its temporary file"


def test_missing_truncated_foreign_and_hostile_files(tmp_path):
    good = tmp_path / "good.pt"
    save_checkpoint(good, build_learner("protonet"), {})
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:1000])
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    text = tmp_path / "text.pt"
    text.write_text("not a checkpoint")

    class Evil:
        def __reduce__(self):
            return (exec, (f"open({str(tmp_path / 'pwned')!r}, 'w').write('pwned')",))

    hostile = tmp_path / "hostile.pt"
    with hostile.open("wb") as fh:
        pickle.dump({"format": "metagui-checkpoint", "payload": Evil()}, fh)
    hostile_zip = tmp_path / "hostile_zip.pt"
    torch.save({"format": "metagui-checkpoint", "payload": Evil()}, hostile_zip)

    cases = {
        tmp_path / "missing.pt": "no such",
        truncated: "truncated or corrupt",
        foreign: "not a metagui checkpoint",
        text: "not a readable checkpoint",
        hostile: "refused|not a readable",
        hostile_zip: "refused",
    }
    for path, message in cases.items():
        with pytest.raises(CheckpointError, match=message) as info:
            load_checkpoint(path)
        assert str(path.name) in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "pwned").exists(), "loading executed code from the file"


def test_weights_that_do_not_fit_and_future_versions(tmp_path):
    path = tmp_path / "bad.pt"
    learner = build_learner("protonet")
    save_checkpoint(path, learner, {})
    payload = read_checkpoint_file(path)
    payload["config"]["hidden"] = 32  # weights are for 64 channels
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="do not fit"):
        load_checkpoint(path)
    payload["format_version"] = 99
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="newer"):
        load_checkpoint(path)


def test_checkpoints_carry_their_preprocessing(tmp_path):
    """A recorded spec wins; a file without one gets the spec its learner's input implies; a
    record that does not fit the model, or is malformed, is refused in one line."""
    from core.data.spec import PreprocessSpec

    ink = build_learner("protonet", {})
    save_checkpoint(tmp_path / "old.pt", ink, {"preprocess_version": 1, "input_size": 28})
    assert load_checkpoint(tmp_path / "old.pt").preprocess == PreprocessSpec("ink", 28)
    save_checkpoint(tmp_path / "bare.pt", ink, {})
    assert load_checkpoint(tmp_path / "bare.pt").preprocess == PreprocessSpec("ink", 28)
    rgb = build_learner("protonet", {"in_channels": 3, "input_size": 32})
    save_checkpoint(tmp_path / "rgb.pt", rgb, {})
    assert load_checkpoint(tmp_path / "rgb.pt").preprocess.kind == "rgb"
    photo = PreprocessSpec("rgb", 32).to_dict()
    save_checkpoint(tmp_path / "photo.pt", rgb, {"preprocess": photo})
    assert load_checkpoint(tmp_path / "photo.pt").preprocess == PreprocessSpec("rgb", 32)
    save_checkpoint(tmp_path / "clash.pt", ink, {"preprocess": photo})
    save_checkpoint(tmp_path / "junk.pt", ink, {"preprocess": {"kind": "x-ray", "size": -1}})
    for name in ("clash.pt", "junk.pt"):
        with pytest.raises(CheckpointError, match="preprocessing") as info:
            load_checkpoint(tmp_path / name)
        assert name in str(info.value) and "\n" not in str(info.value)


def _doctored(tmp_path, change) -> str:
    """A protonet checkpoint whose raw payload ``change(payload)`` edits."""
    path = tmp_path / "doctored.pt"
    save_checkpoint(path, build_learner("protonet"), {"train_characters": ["a/1"]})
    payload = torch.load(path, weights_only=True)
    change(payload)
    torch.save(payload, path)
    return str(path)


def _first_weight(payload) -> str:
    return next(k for k, v in payload["state_dict"].items() if v.is_floating_point())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p["state_dict"][_first_weight(p)].fill_(float("nan")), "NaN or infinite"),
        (lambda p: p["state_dict"][_first_weight(p)].fill_(float("inf")), "NaN or infinite"),
        (
            lambda p: p["state_dict"].update({k: v.long() for k, v in p["state_dict"].items()}),
            "torch.int64 values where the model holds torch.float32",
        ),
        (lambda p: p["config"].update(adapt_steps=10**9), "adapt_steps 1000000000 is above"),
        (lambda p: p["metadata"].update(train_characters=[1, 2]), "train_characters"),
        (lambda p: p["metadata"].update(train_characters=[{"a": 1}]), "train_characters"),
        (lambda p: p.update(format_version="1"), "format version '1' is not a whole number"),
    ],
)
def test_hostile_values_inside_a_checkpoint_are_refused_in_one_line(change, message, tmp_path):
    path = _doctored(tmp_path, change)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert "newer" not in str(info.value)


def test_weight_mismatch_says_which_weights(tmp_path):
    def drop(payload):
        del payload["state_dict"][_first_weight(payload)]

    with pytest.raises(CheckpointError) as info:
        load_checkpoint(_doctored(tmp_path, drop))
    text = str(info.value)
    assert "Missing key(s)" in text and "backbone" in text and "\n" not in text


@pytest.mark.parametrize("tool", ["evaluate", "predict", "export"])
def test_the_clis_refuse_a_nan_checkpoint_in_one_line(tool, tmp_path, capsys):
    import importlib

    path = _doctored(tmp_path, lambda p: p["state_dict"][_first_weight(p)].fill_(float("nan")))
    args = ["--checkpoint", path, "--support", str(tmp_path), "--query", str(tmp_path)]
    if tool == "evaluate":
        args = ["--checkpoint", path, "--data-root", str(tmp_path)]
    if tool == "export":
        args[-2:] = ["--out", str(tmp_path / "m.pt")]
    with pytest.raises(SystemExit) as info:
        importlib.import_module(f"core.{tool}").main(args)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "NaN or infinite" in err
