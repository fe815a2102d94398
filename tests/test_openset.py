"""Open-set answers: scores, AUROC, the calibration file and ``python -m core.openset``."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import torch

from core.algorithms import ALGORITHMS, build_learner, final_step
from core.algorithms.base import Capabilities, Learner
from core.checkpoint import save_checkpoint
from core.openset import SCORES, Scorer, auroc, calibration_path, candidate_scores
from core.openset.__main__ import main
from core.openset.calibration import (
    Calibration,
    CalibrationError,
    file_sha256,
    load_calibration,
    save_calibration,
)
from core.openset.rejector import Rejector
from core.openset.score import all_scores


class FlatLearner(Learner):
    """A stand-in metric learner whose embedding is the flattened image."""

    name = "protonet"
    capabilities = Capabilities(adapt_steps=False, lr_override="", embedding=True)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return images.flatten(1)


class NearestCentre:
    """Logits = negative squared distance of flattened images to fixed centres."""

    def __init__(self, centres: torch.Tensor) -> None:
        self.centres, self.n_way = centres, len(centres)

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        return -torch.cdist(images.flatten(1), self.centres).pow(2)


def _support():
    gen = torch.Generator().manual_seed(0)
    support = torch.rand(6, 1, 4, 4, generator=gen)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    return support, labels


@pytest.mark.parametrize("kind", ["centre", "nearest"])
def test_a_copy_of_a_support_image_is_known_and_a_far_query_is_not(kind):
    support, labels = _support()
    scorer = Scorer.fit(kind, FlatLearner(), support, labels)
    far = support[:1] + 10.0
    copy = support[2:3]
    scores = scorer.scores(torch.cat([copy, far]))
    if kind == "nearest":
        assert float(scores[0]) == pytest.approx(0.0, abs=1e-9)
    assert float(scores[1]) > 5 * float(scores[0]) and float(scores[1]) > 1.0
    calibration = Calibration(kind, {2: 1.0}, 0.95, "protonet", "0" * 64)
    rejector = Rejector(calibration, scorer, shots=2.0)
    assert rejector.reject(torch.cat([copy, far])).tolist() == [False, True]


def test_distance_scores_do_not_depend_on_the_scale_of_the_embeddings():
    support, labels = _support()
    query = torch.rand(3, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    a = Scorer.fit("centre", FlatLearner(), support, labels).scores(query)
    b = Scorer.fit("centre", FlatLearner(), 7 * support, labels).scores(7 * query)
    assert torch.allclose(a, b)


def test_msp_and_energy_from_logits():
    support, labels = _support()
    learner = FlatLearner()
    centres = torch.stack([support[labels == c].flatten(1).mean(0) for c in range(3)])
    clf = NearestCentre(centres)
    query = torch.cat([support[:1], support[:1] + 10.0])
    scores, logits = all_scores(learner, clf, support, labels, query, ("msp", "energy"))
    probs = torch.softmax(logits.double(), 1)
    assert torch.allclose(scores[:, 0], -probs.max(1).values)
    assert torch.allclose(scores[:, 1], -torch.logsumexp(logits.double(), 1))
    assert float(scores[1, 1]) > float(scores[0, 1])  # far query: lower energy of every class
    calibration = Calibration("msp", {1: -0.5}, 0.95, "protonet", "0" * 64)
    rejector = Rejector.fit(calibration, learner, support, labels, clf)
    assert rejector.reject(query, probs=torch.softmax(logits, 1)) is not None


def test_auroc_on_known_orderings_and_against_counting():
    assert auroc(torch.tensor([0.0, 1.0]), torch.tensor([2.0, 3.0])) == 1.0
    assert auroc(torch.tensor([2.0, 3.0]), torch.tensor([0.0, 1.0])) == 0.0
    assert auroc(torch.tensor([1.0, 1.0]), torch.tensor([1.0])) == 0.5
    gen = torch.Generator().manual_seed(0)
    known = torch.randint(0, 5, (40,), generator=gen).double()
    unknown = torch.randint(2, 8, (30,), generator=gen).double()
    pairs = (unknown[None, :] > known[:, None]).double() + 0.5 * (
        unknown[None, :] == known[:, None]
    ).double()
    assert auroc(known, unknown) == pytest.approx(float(pairs.mean()))


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_every_learner_has_the_msp_fallback_and_its_distance_scores_run(name):
    learner = build_learner(name, {"input_size": 28} if name != "mann" else {})
    kinds = candidate_scores(learner)
    assert "msp" in kinds and set(kinds) <= set(SCORES)
    if learner.capabilities.episode_kind != "episode" or "centre" not in kinds:
        return
    gen = torch.Generator().manual_seed(0)
    size = learner.config.input_size
    support = torch.rand(4, learner.config.in_channels, size, size, generator=gen)
    labels = torch.tensor([0, 0, 1, 1])
    clf = final_step(learner.eval().adapt(support, labels)).classifier
    scores, logits = all_scores(learner, clf, support, labels, support[:2], kinds)
    assert scores.shape == (2, len(kinds)) and logits.shape == (2, 2)
    assert bool(torch.isfinite(scores).all())


# ---------------------------------------------------------------- the calibration file
@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "protonet-test.pt"
    save_checkpoint(path, build_learner("protonet", {}), {"split": "vinyals"})
    return path


def _calibration(checkpoint) -> Calibration:
    return Calibration(
        "centre", {1: 0.6, 5: 0.5}, 0.95, "protonet", file_sha256(checkpoint), {"ways": 5}
    )


def test_calibration_round_trip_and_nearest_shot_threshold(checkpoint):
    path = calibration_path(checkpoint)
    assert path.name == "protonet-test.openset.json"
    save_calibration(path, _calibration(checkpoint))
    loaded = load_calibration(path, checkpoint)
    assert loaded == _calibration(checkpoint)
    assert [loaded.threshold_for(s) for s in (1, 2, 3, 5, 20)] == [0.6, 0.6, 0.5, 0.5, 0.5]
    assert loaded.reject(torch.tensor([0.55, 0.65]), 1).tolist() == [False, True]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda d: d.pop("thresholds"), "thresholds must be"),
        (lambda d: d.update(format="something-else"), "not a metagui open-set calibration"),
        (lambda d: d.update(format_version=99), "format version 99"),
        (lambda d: d.update(score="rm -rf"), "unknown score"),
        (lambda d: d.update(thresholds={"1": math.nan}), "finite number"),
        (lambda d: d.update(thresholds={"1": True}), "finite number"),
        (lambda d: d.update(thresholds={"../1": 0.5}), "not a shot count"),
        (lambda d: d.update(thresholds={"0": 0.5}), "not a shot count"),
        (lambda d: d.update(true_accept_rate=1.5), "true_accept_rate"),
        (lambda d: d.update(checkpoint_sha256="00"), "checkpoint_sha256"),
        (lambda d: d.update(checkpoint_sha256="f" * 64), "different checkpoint"),
    ],
)
def test_bad_calibration_files_give_one_clear_line(checkpoint, change, reason):
    doc = _calibration(checkpoint).to_json()
    change(doc)
    path = calibration_path(checkpoint)
    path.write_text(json.dumps(doc))
    with pytest.raises(CalibrationError, match=reason) as err:
        load_calibration(path, checkpoint)
    assert "\n" not in str(err.value) and str(path) in str(err.value)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not valid JSON"),
        (b"[1, 2, 3]", "not a metagui open-set calibration"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON|too large"),
        (b" " * (2 << 20), "too large"),
    ],
)
def test_corrupt_or_hostile_calibration_files(checkpoint, content, reason):
    path = calibration_path(checkpoint)
    path.write_bytes(content)
    with pytest.raises(CalibrationError, match=reason):
        load_calibration(path)
    with pytest.raises(CalibrationError, match="no such calibration file"):
        load_calibration(path.with_name("missing.json"))


# ---------------------------------------------------------------- python -m core.openset
def test_cli_calibrates_reports_and_rereads_its_file(tiny_root, checkpoint, tmp_path, capsys):
    out = tmp_path / "cal.json"
    common = ["--checkpoint", str(checkpoint), "--data-root", str(tiny_root), "--threads", "1"]
    small = ["--shots", "1", "2", "--queries", "2", "--episodes", "3", "--test-episodes", "2"]
    assert main([*common, *small, "--out", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["score"] in SCORES and set(doc["thresholds"]) == {"1", "2"}
    assert set(doc["test"]) == {"1", "2"} and 0 <= doc["test"]["1"]["auroc"] <= 1
    assert set(doc["validation_auroc"]["1"]) == set(SCORES)  # every candidate measured
    saved = load_calibration(out, checkpoint)
    assert saved.score == doc["score"] and saved.info["test"] == doc["test"]
    again = [*common, "--queries", "2", "--test-episodes", "2", "--calibration", str(out)]
    assert main(again) == 0
    line = capsys.readouterr().out
    assert "AUROC" in line and "cost" in line and line.count("\n") == 1


def test_cli_bad_input_exits_2_with_one_line(tiny_root, checkpoint, tmp_path, capsys):
    common = ["--data-root", str(tiny_root), "--threads", "1"]
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text("{")
    hostile = tmp_path / "evil.pt"
    hostile.write_bytes(b"\x80\x04cos\nsystem\n(S'echo hi'\ntR.")
    cases = [
        ["--checkpoint", str(tmp_path / "missing.pt")],
        ["--checkpoint", str(hostile)],
        ["--checkpoint", str(checkpoint), "--true-accept", "1.5"],
        ["--checkpoint", str(checkpoint), "--true-accept", "nan"],
        ["--checkpoint", str(checkpoint), "--ways", "1"],
        ["--checkpoint", str(checkpoint), "--shots", "0"],
        ["--checkpoint", str(checkpoint), "--calibration", str(corrupt)],
        ["--checkpoint", str(checkpoint), "--calibration", str(tmp_path / "none.json")],
    ]
    for args in cases:
        capsys.readouterr()
        with pytest.raises(SystemExit) as stop:
            raise SystemExit(main([*args, *common]))
        assert stop.value.code == 2, args
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, (args, err)


def test_cli_as_a_process_exits_2_on_a_bad_checkpoint(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_text("nope")
    run = [sys.executable, "-m", "core.openset", "--checkpoint", str(bad)]
    result = subprocess.run(run, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "bad.pt" in result.stderr


@pytest.mark.parametrize("name", ["anil", "protonet"])
def test_decide_gives_the_classifiers_logits_and_the_same_decision(name):
    torch.manual_seed(0)
    learner = build_learner(name, {}).eval()
    gen = torch.Generator().manual_seed(0)
    support, queries = (
        torch.rand(4, 1, 28, 28, generator=gen),
        torch.rand(3, 1, 28, 28, generator=gen),
    )
    labels = torch.tensor([0, 0, 1, 1])
    clf = final_step(learner.adapt(support, labels)).classifier
    rejector = Rejector.fit(Calibration("centre", {2: 0.5}, 0.95, name, "0" * 64), learner,
                            support, labels, clf)  # fmt: skip
    logits, flags = rejector.decide(queries, clf)
    with torch.no_grad():
        expected = clf.logits(queries)
    assert torch.allclose(logits, expected, atol=1e-5)
    assert torch.equal(flags, rejector.reject(queries, torch.softmax(expected, 1), clf))


def test_adapted_features_of_the_support_set_alone_equal_those_beside_it():
    torch.manual_seed(0)
    learner = build_learner("maml", {}).eval()
    support = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    clf = final_step(learner.adapt(support, torch.tensor([0, 0, 1, 1]), steps=1)).classifier
    alone = clf.embed(support)  # the shortcut: one pass of the support set
    beside = clf.embed(support.clone())  # support + a copy, statistics from the support
    assert alone.shape == (4, learner.backbone.out_features)
    assert torch.allclose(alone, beside, atol=1e-5)


def test_every_shipped_checkpoint_has_a_calibration_made_for_it():
    from pathlib import Path

    from core.checkpoint import read_checkpoint_file

    shipped = sorted((Path(__file__).resolve().parents[1] / "assets" / "checkpoints").glob("*.pt"))
    if not shipped:
        pytest.skip("no shipped checkpoints")
    for path in shipped:
        calibration = load_calibration(calibration_path(path), path)
        assert calibration.algorithm == read_checkpoint_file(path)["algorithm"]
        assert set(calibration.thresholds) == {1, 5} and calibration.true_accept_rate == 0.95
        assert set(calibration.info["test"]) == {"1", "5"}
