"""One writer per run folder: a run holds a lock on ``--out`` while it writes there, and a new
run does not start over a folder that holds one (``--resume`` continues it, ``--overwrite``
replaces it). Two runs into one folder would interleave ``metrics.csv`` and overwrite each
other's ``best.pt``."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from pathlib import Path

LOCK = ".run.lock"
#: Files a run writes into its folder (``step-N.pt`` and ``.json`` companions too).
RUN_FILES = ("last.pt", "best.pt", "metrics.csv")


class RunFolder:
    """A claimed run folder; ``release()`` (or process exit) frees it for another run."""

    def __init__(self, out: Path, handle) -> None:
        self.out, self._handle = out, handle

    def release(self) -> None:
        if self._handle is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def existing_run(out: Path) -> list[str]:
    """Names of the run files already in ``out`` (empty when it holds no run)."""
    if not out.is_dir():
        return []
    found = [name for name in RUN_FILES if (out / name).exists()]
    return found + sorted(p.name for p in out.glob("step-*.pt"))


def claim(out: Path, resume: bool, overwrite: bool) -> RunFolder:
    """Lock ``out`` for this run (creating it). ValueError with a one-line reason when another
    run writes there, or when a new run (not ``resume``) meets a run's files and ``overwrite``
    is not given; with ``overwrite``, the old run's files are removed first."""
    if resume and overwrite:
        raise ValueError("--overwrite starts the run over; it cannot go with --resume")
    out.mkdir(parents=True, exist_ok=True)
    handle = open(out / LOCK, "a+")  # noqa: SIM115 (held for the whole run)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        handle.close()
        raise ValueError(
            f"{out} is in use by another training run (process {holder}); wait for it to end "
            "or give another --out"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    folder = RunFolder(out, handle)
    found = [] if resume else existing_run(out)
    if found and not overwrite:
        folder.release()
        raise ValueError(
            f"{out} already holds a run ({', '.join(found[:4])}); continue it with --resume, "
            "give another --out, or start it over with --overwrite"
        )
    if found:
        _clear(out)
    return folder


def _clear(out: Path) -> None:
    """Remove the files of the run in ``out`` (and only those)."""
    names = [*RUN_FILES, "config.json", "best.json", "last.json"]
    for path in [*(out / n for n in names), *out.glob("step-*.pt"), *out.glob("step-*.json")]:
        path.unlink(missing_ok=True)
    shutil.rmtree(out / "tensorboard", ignore_errors=True)
