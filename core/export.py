"""``python -m core.export``: write an adapted classifier as a TorchScript or ONNX file.

    python -m core.export --checkpoint assets/checkpoints/anil-omniglot.pt \\
        --support my_chars/support --out my_chars.onnx

``--support`` holds one sub-folder per class (folder name = class name) of example images, as for
``core.predict``. The learner adapts to them exactly as ``core.predict`` does (the checkpoint's own
steps and learning rate unless overridden) and the adapted classifier is written to ``--out``:

- ``.pt``: TorchScript; ``torch.jit.load(path)(images)`` gives probabilities ``(n, n_way)``;
  the class names are the module's ``class_names`` attribute (and ``preprocess``, the input spec
  as JSON).
- ``.onnx``: input ``images`` ``(n, C, S, S)``, output ``probabilities`` ``(n, n_way)``; the class
  names are in the model's ``metadata_props`` (``class_names``, a JSON list; ``preprocess``).

The input is the preprocessed tensor the checkpoint's spec makes (``PreprocessSpec.image``), e.g.
``(n, 1, 28, 28)`` ink = 1 for the Omniglot checkpoints. Exit codes: 0 written; 2 bad arguments or
unusable input, with a one-line reason on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import inspect
import io
import json
import sys
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

from core.algorithms import final_step
from core.algorithms.base import Classifier, Learner
from core.cli import add_checkpoint_arg, add_device_args, add_version_arg, fail, load_checkpoint_arg
from core.data.spec import PreprocessSpec
from core.files import write_bytes, write_problem, write_with
from core.predict import Skipped, read_support, valid_text

FORMATS = (".pt", ".onnx")


class _Probabilities(nn.Module):
    """An adapted classifier as a module: images ``(n, C, S, S)`` -> probabilities."""

    def __init__(self, classifier: Classifier) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.classifier.logits(images), dim=1)


class _PerImage(nn.Module):
    """The classifier traced on one image, applied to each image of a batch in turn: a trace
    may hold its batch size as a constant (e.g. Relation Networks' reshapes); one image at a time
    gives any batch size the same answer (every learner here classifies images independently)."""

    def __init__(self, traced: nn.Module) -> None:
        super().__init__()
        self.model = traced

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        rows = []
        for i in range(images.shape[0]):
            rows.append(self.model(images[i : i + 1]))
        return torch.cat(rows, 0)


class _Named(nn.Module):
    """The classifier with its class names and input spec as attributes."""

    def __init__(self, traced: nn.Module, class_names: Sequence[str], preprocess: str) -> None:
        super().__init__()
        self.model = traced
        self.class_names = list(class_names)
        self.preprocess = preprocess

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)


def _detached(obj, modules: list[nn.Module]):
    """``obj`` (a classifier dataclass and what it holds) with every tensor detached; the
    modules it uses are collected in ``modules`` (their weights become traced constants)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach()
    if isinstance(obj, nn.Module):
        modules.append(obj)
        return obj
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        fields = {f.name: _detached(getattr(obj, f.name), modules) for f in dataclasses.fields(obj)}
        return dataclasses.replace(obj, **fields)
    if isinstance(obj, Mapping):
        return {k: _detached(v, modules) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_detached(v, modules) for v in obj)
    if inspect.ismethod(obj) and isinstance(obj.__self__, nn.Module):
        modules.append(obj.__self__)
    return obj


@contextlib.contextmanager
def _frozen(modules: list[nn.Module]) -> Iterator[None]:
    """No gradients for ``modules``' parameters while tracing (restored afterwards)."""
    params = [p for m in modules for p in m.parameters()]
    flags = [p.requires_grad for p in params]
    try:
        for p in params:
            p.requires_grad_(False)
        yield
    finally:
        for p, flag in zip(params, flags, strict=True):
            p.requires_grad_(flag)


def adapt_classifier(
    learner: Learner,
    support: torch.Tensor,
    labels: torch.Tensor,
    steps: int | None = None,
    lr: float | None = None,
) -> Classifier:
    """Adapt ``learner`` to ``support`` ``(n, C, S, S)`` / ``labels`` ``(n,)`` as core.predict
    does (None: the learner's own steps and learning rate)."""
    return final_step(learner.adapt(support, labels, steps=steps, lr=lr)).classifier


def export_classifier(
    classifier: Classifier,
    class_names: Sequence[str],
    spec: PreprocessSpec,
    out: Path,
    example: torch.Tensor,
) -> Path:
    """Write ``classifier`` to ``out`` (``.pt`` TorchScript or ``.onnx``) with the class names
    embedded; ``example`` ``(n, C, S, S)``: inputs on the classifier's device to trace with.
    ValueError for an unknown suffix or a missing ``onnx`` package."""
    out = Path(out)
    if out.suffix not in FORMATS:
        raise ValueError(f"--out {out}: the file name must end in .pt or .onnx")
    if out.suffix == ".onnx":
        try:
            import onnx
        except ImportError as exc:
            raise ValueError("writing .onnx needs the onnx package: pip install onnx") from exc
    spec_json = json.dumps(spec.to_dict())
    modules: list[nn.Module] = []
    module = _Probabilities(_detached(classifier, modules))
    with torch.no_grad(), _frozen(modules), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes about constants: the weights are fixed
        traced = torch.jit.trace(module, example[:1], check_trace=False)
        per_image = torch.jit.script(_PerImage(traced))
        if out.suffix == ".pt":
            names = [valid_text(n) for n in class_names]  # TorchScript holds valid UTF-8 only
            scripted = torch.jit.script(_Named(per_image, names, spec_json))
            write_with(out, lambda buffer: torch.jit.save(scripted, buffer))
            return out
        buffer = io.BytesIO()
        torch.onnx.export(
            per_image,
            (example,),
            buffer,
            input_names=["images"],
            output_names=["probabilities"],
            dynamic_axes={"images": {0: "n"}, "probabilities": {0: "n"}},
            dynamo=False,
        )
    model = onnx.load_from_string(buffer.getvalue())
    for key, value in (("class_names", json.dumps(list(class_names))), ("preprocess", spec_json)):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    write_bytes(out, model.SerializeToString())
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m core.export",
        description="Adapt a checkpoint to labelled example folders and write the classifier as "
        "TorchScript (.pt) or ONNX (.onnx) with the class names embedded.",
    )
    add_checkpoint_arg(p)
    add_version_arg(p)
    p.add_argument(
        "--support", required=True, type=Path, help="folder with one sub-folder of images per class"
    )
    p.add_argument("--out", required=True, type=Path, help="output file: NAME.pt or NAME.onnx")
    p.add_argument("--adapt-steps", type=int, help="override the learner's adaptation steps")
    p.add_argument("--adapt-lr", type=float, help="override the learner's adaptation learning rate")
    add_device_args(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.out.suffix not in FORMATS:
        return fail(f"--out {args.out}: the file name must end in .pt or .onnx")
    if not args.out.parent.is_dir():
        return fail(f"--out {args.out}: the folder {args.out.parent} does not exist")
    ckpt, device = load_checkpoint_arg(args)
    skipped: list[Skipped] = []
    try:
        spec = ckpt.preprocess
        names, support, labels = read_support(args.support, spec, skipped)
        support, labels = support.to(device), labels.to(device)
        classifier = adapt_classifier(
            ckpt.learner, support, labels, args.adapt_steps, args.adapt_lr
        )
        export_classifier(classifier, names, spec, args.out, support[: min(len(support), 2)])
    except (ValueError, ArithmeticError) as exc:  # bad folders/classes; AdaptationDiverged
        return fail(str(exc))
    except (RuntimeError, OSError) as exc:  # full disk; an exporter that cannot handle this model
        return fail(write_problem(args.out, exc))
    for s in skipped:
        print(f"warning: skipped {s.reason}", file=sys.stderr)
    print(f"wrote {args.out} ({len(names)} classes: {', '.join(names)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
