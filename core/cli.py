"""Pieces shared by the command-line tools: data/device flags and the exit-code-2 failure."""

from __future__ import annotations

import argparse
import sys

import torch

import core
from core.bounds import bound_problem
from core.device import DEVICE_CHOICES, keep_freed_memory, pick_device
from core.shipped import resolve_checkpoint

if getattr(core, "METAGUI_CORE", False) is not True:  # another distribution's core/__init__.py
    raise ImportError(
        f"{core.__file__} is not metagui's core/__init__.py: another distribution installed a "
        "top-level 'core' over it; reinstall metagui in a venv of its own (README, 'The core name')"
    )


def add_version_arg(p: argparse.ArgumentParser) -> None:
    """``--version``: print ``PROG metagui X.Y.Z`` and exit 0."""
    p.add_argument("--version", action="version", version=f"%(prog)s (metagui {core.__version__})")


def add_checkpoint_arg(p: argparse.ArgumentParser) -> None:
    """``--checkpoint``: a file, or a shipped checkpoint by name (``protonet-omniglot``)."""
    p.add_argument(
        "--checkpoint",
        required=True,
        type=resolve_checkpoint,
        help="a metagui checkpoint (.pt): a path, or a shipped one by name (protonet-omniglot)",
    )


def add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-root",
        type=_path,
        default=None,
        help="folder holding omniglot/, miniimagenet/ or cifar-fs/ (default: $METAGUI_DATA, else "
        "the user cache, downloading Omniglot or CIFAR-100 when online); with --dataset folder, "
        "the folder of class sub-folders itself",
    )


def add_device_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--device", choices=DEVICE_CHOICES, default="auto", help="compute device (default auto)"
    )
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default all)")


def _path(text: str):
    from core.data.paths import data_root

    return data_root(text)


def setup_device(args: argparse.Namespace) -> torch.device:
    """Apply --threads and resolve --device; exit with code 2 and a reason when unusable.

    Also tunes the allocator for training (``keep_freed_memory``): the CLIs own their process.
    """
    from core.data.paths import data_root

    keep_freed_memory()
    problem = bound_problem(vars(args))
    if problem:
        sys.exit(fail(problem))

    if hasattr(args, "data_root"):
        args.data_root_given = args.data_root is not None
        if args.data_root is None:
            args.data_root = data_root(None)
    if args.threads is not None:
        if args.threads < 1:
            sys.exit(fail("--threads must be at least 1"))
        torch.set_num_threads(args.threads)
    try:
        return pick_device(args.device)
    except ValueError as exc:
        sys.exit(fail(str(exc)))


def load_checkpoint_arg(args: argparse.Namespace):
    """Resolve --device/--threads and load --checkpoint; exit 2 with a one-line reason if unusable.

    Returns ``(checkpoint, device)``.
    """
    from core.checkpoint import CheckpointError, load_checkpoint

    device = setup_device(args)
    try:
        return load_checkpoint(args.checkpoint, device), device
    except CheckpointError as exc:
        sys.exit(fail(str(exc)))


def fail(message: str) -> int:
    """Print ``error: message`` (one line) on stderr and return exit code 2."""
    print(f"error: {message}", file=sys.stderr)
    return 2
