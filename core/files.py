"""Writing files whole or not at all: every file the project writes goes through here.

The bytes go to a temporary file in the destination's folder, which is renamed over the
destination only once they are all written and flushed. A failure (full disk, no permission,
a signal) removes the temporary file and leaves the previous file, if any, untouched. Errors are
``OSError``; ``write_problem`` says one of them in one line.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """A binary file to write ``path``'s new content into; renamed over ``path`` on success."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; our files are not secret
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all (OSError on failure, nothing left)."""
    with atomic_file(path) as fh:
        fh.write(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` whole or not at all."""
    write_bytes(path, text.encode("utf-8", "surrogateescape"))


def write_with(path: str | os.PathLike, save: Callable[[BinaryIO], object]) -> None:
    """Write what ``save(buffer)`` puts in an in-memory buffer (``torch.save``,
    ``torch.jit.save``, ...) to ``path`` whole or not at all: the serialiser never touches the
    disk, so a full disk is a Python ``OSError`` instead of an error inside a C++ writer."""
    buffer = io.BytesIO()
    save(buffer)
    write_bytes(path, buffer.getbuffer())


def write_problem(path: str | os.PathLike, exc: BaseException) -> str:
    """``cannot write PATH: reason`` in one line (``[Errno 28] No space left on device``...)."""
    if isinstance(exc, OSError) and exc.strerror:
        reason = f"{exc.strerror} [Errno {exc.errno}]" if exc.errno else exc.strerror
    else:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return f"cannot write {path}: {reason}; nothing was written"


def os_problem(exc: OSError) -> str:
    """An OSError in one line naming its file: ``PATH: Permission denied``."""
    reason = exc.strerror or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return f"{exc.filename}: {reason}" if exc.filename else reason
