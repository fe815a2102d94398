"""``python -m core.predict``: classify your own images from labelled example folders.

    python -m core.predict --checkpoint assets/checkpoints/protonet-omniglot.pt \\
        --support my_chars/support --query my_chars/query

``--support`` holds one sub-folder per class (folder name = class name) of example images;
``--query`` is a folder of images (or one image). Any common format and size; unreadable files are
skipped with a warning naming them.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from core.algorithms import final_step
from core.cli import add_checkpoint_arg, add_device_args, add_version_arg, fail, load_checkpoint_arg
from core.data.preprocess import ImageError
from core.data.spec import PreprocessSpec


@dataclass(frozen=True)
class Skipped:
    file: str
    reason: str


def valid_text(name: str) -> str:
    """``name`` as valid UTF-8 text (what JSON, TorchScript and a terminal take): a folder name
    that is not UTF-8 (held as lone surrogates) shows its bytes as ``\\xNN`` escapes, any other
    lone surrogate as ``\\udNNN``."""
    try:
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return name.encode("utf-8", "backslashreplace").decode("utf-8")


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def load_folder_images(
    files: list[Path], spec: PreprocessSpec, skipped: list[Skipped]
) -> tuple[list[Path], list[torch.Tensor]]:
    """Preprocess ``files`` with ``spec``; unreadable ones are appended to ``skipped`` instead."""
    ok, tensors = [], []
    for path in files:
        try:
            tensors.append(spec.file(path))
            ok.append(path)
        except ImageError as exc:
            skipped.append(Skipped(str(path), str(exc)))
    return ok, tensors


def read_support(
    folder: Path, spec: PreprocessSpec, skipped: list[Skipped]
) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """Class names, support images ``(n, C, S, S)`` and labels ``(n,)`` from class folders."""
    if not folder.is_dir():
        raise ValueError(f"--support {folder} is not a folder")
    class_dirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(class_dirs) < 2:
        raise ValueError(
            f"--support {folder} must hold at least two class sub-folders "
            f"(one per class, folder name = class name); found {len(class_dirs)}"
        )
    names, images, labels = [], [], []
    for label, class_dir in enumerate(class_dirs):
        _, tensors = load_folder_images(_image_files(class_dir), spec, skipped)
        if not tensors:
            shown = valid_text(class_dir.name)
            raise ValueError(f"class '{shown}' ({valid_text(str(class_dir))}) has no usable images")
        names.append(valid_text(class_dir.name))
        images.extend(tensors)
        labels.extend([label] * len(tensors))
    return names, torch.stack(images), torch.tensor(labels)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m core.predict",
        description="Classify query images using labelled example folders and a checkpoint.",
    )
    add_checkpoint_arg(p)
    add_version_arg(p)
    p.add_argument(
        "--support", required=True, type=Path, help="folder with one sub-folder of images per class"
    )
    p.add_argument("--query", required=True, type=Path, help="folder of images, or one image")
    p.add_argument("--adapt-steps", type=int, help="override the learner's adaptation steps")
    p.add_argument("--adapt-lr", type=float, help="override the learner's adaptation learning rate")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    add_device_args(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    ckpt, device = load_checkpoint_arg(args)
    skipped: list[Skipped] = []
    try:
        spec = PreprocessSpec.from_metadata(ckpt.metadata)
        names, support, labels = read_support(args.support, spec, skipped)
        if args.query.is_dir():
            query_files = _image_files(args.query)
        elif args.query.is_file():
            query_files = [args.query]
        else:
            raise ValueError(f"--query {args.query} does not exist")
        query_files, query = load_folder_images(query_files, spec, skipped)
        if not query:
            raise ValueError(f"--query {args.query} holds no usable images")
        last = final_step(
            ckpt.learner.adapt(
                support.to(device), labels.to(device), steps=args.adapt_steps, lr=args.adapt_lr
            )
        )
        with torch.no_grad():
            probs = torch.softmax(last.classifier.logits(torch.stack(query).to(device)), 1).cpu()
    except (ValueError, ArithmeticError) as exc:  # bad folders/classes; AdaptationDiverged
        return fail(str(exc))
    for s in skipped:
        print(f"warning: skipped {s.reason}", file=sys.stderr)
    rows = [
        {
            "file": valid_text(str(path)),
            "label": names[int(p.argmax())],
            "probabilities": {n: float(v) for n, v in zip(names, p, strict=True)},
        }
        for path, p in zip(query_files, probs, strict=True)
    ]
    if args.json:
        doc = {
            "checkpoint": str(args.checkpoint),
            "algorithm": ckpt.learner.name,
            "classes": names,
            "predictions": rows,
            "skipped": [{"file": s.file, "reason": s.reason} for s in skipped],
        }
        print(json.dumps(doc))
    else:
        for row in rows:
            ranked = sorted(row["probabilities"].items(), key=lambda kv: -kv[1])
            detail = ", ".join(f"{n} {100 * v:.1f}%" for n, v in ranked)
            print(f"{row['file']}: {row['label']}  ({detail})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
