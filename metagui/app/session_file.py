"""``.metagui`` session files: a zip holding ``manifest.json`` (class names, drawings as strokes,
the query, the checkpoint, steps/lr, the metagui version that wrote it) and dropped or dataset
images as PNG files. No Qt.

Reading is defensive and whole before anything is used: a file that is not a zip, has no
manifest of this format, names members outside the archive (``../``), is larger than a few MB
when unpacked (zip bombs), holds unreadable or oversized images, or values out of bounds (class
count, name length, points per stroke, pen width, steps, learning rate) raises
``SessionFileError`` with a one-line reason; the caller then changes nothing.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from metagui import __version__
from metagui.app.session import Drawing, Example, TaskClass, ink_picture, keep_picture

FORMAT, VERSION = "metagui-session", 1
MANIFEST = "manifest.json"
MAX_MEMBERS, MAX_UNPACKED = 2000, 64 * 1024 * 1024  # bytes, all members together
MAX_MANIFEST = 16 * 1024 * 1024
#: Bounds of what a session may hold (a demo has a few classes of a few examples).
MAX_CLASSES, MAX_EXAMPLES, MAX_NAME = 200, 1000, 200
MAX_STROKES, MAX_POINTS = 500, 5000  # strokes per drawing, points per stroke
MAX_WIDTH, MAX_STEPS, MAX_LR = 0.5, 200, 1e6  # steps and lr: the settings boxes' ranges
MAX_IMAGE_PIXELS = 4096 * 4096
#: Pixels of all images together, checked from their headers before any is decoded.
MAX_TOTAL_PIXELS = 64_000_000


class SessionFileError(ValueError):
    """Not a usable session file; the message says why in one line."""


@dataclass(frozen=True)
class SavedSession:
    classes: list[TaskClass]
    query: Drawing | tuple[Example, ...] | None
    checkpoint: str | None  # the checkpoint's file name
    steps: int | None
    lr: float | None
    checkpoint_path: str | None = None  # where it was when saved
    algorithm: str | None = None  # the learner the steps and lr belong to


def _drawing_json(d: Drawing) -> dict:
    return {"width": d.width, "strokes": [[list(p) for p in s] for s in d.strokes]}


def save(path: Path, session: SavedSession) -> None:
    """Write ``session`` to ``path`` through a temporary file in the same folder, renamed over
    it at the end: a failure (full disk, no permission) leaves the old file and no partial one.
    """
    members: dict[str, bytes] = {}

    def example_json(example: Example) -> dict:
        if example.drawing is not None:
            return {"drawing": _drawing_json(example.drawing), "source": example.source}
        picture = example.picture or ink_picture(example.image)
        name = f"images/{len(members)}.png"
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG")
        members[name] = buffer.getvalue()
        return {"image": name, "source": example.source}

    query = session.query
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "metagui_version": __version__,
        "checkpoint": session.checkpoint,
        "checkpoint_path": session.checkpoint_path,
        "algorithm": session.algorithm,
        "steps": session.steps,
        "lr": session.lr,
        "classes": [
            {"name": c.name, "examples": [example_json(e) for e in c.examples]}
            for c in session.classes
        ],
        "query": (
            None
            if query is None
            else {"drawing": _drawing_json(query)}
            if isinstance(query, Drawing)
            else {"images": [example_json(e) for e in query]}
        ),
    }
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr(MANIFEST, json.dumps(doc))
            for name, data in members.items():
                z.writestr(name, data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class _Damaged(SessionFileError):
    """A manifest whose content cannot be used (said as "damaged session file (why)")."""

    def __init__(self, why: str) -> None:
        super().__init__(f"damaged session file ({why})")


def _number(value, what: str, low: float, high: float, whole: bool = False):
    """``value`` as a finite number in ``[low, high]`` (None stays None)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Damaged(f"{what} is not a number")
    if not math.isfinite(value) or not low <= value <= high:
        raise _Damaged(f"{what} {value!r} is out of bounds ({low:g} to {high:g})")
    if whole and value != int(value):
        raise _Damaged(f"{what} {value!r} is not a whole number")
    return int(value) if whole else float(value)


def _drawing(doc) -> Drawing:
    if not isinstance(doc, dict) or not isinstance(doc.get("strokes"), list):
        raise _Damaged("a drawing has no strokes")
    if len(doc["strokes"]) > MAX_STROKES:
        raise _Damaged(f"a drawing has over {MAX_STROKES} strokes")
    strokes = []
    for stroke in doc["strokes"]:
        if not isinstance(stroke, list) or len(stroke) > MAX_POINTS:
            raise _Damaged(f"a stroke is not a list of at most {MAX_POINTS} points")
        points = []
        for point in stroke:
            if not isinstance(point, list) or len(point) != 2:
                raise _Damaged("a stroke point is not an (x, y) pair")
            points.append(tuple(_number(v, "a stroke coordinate", -1.0, 2.0) for v in point))
        strokes.append(tuple(points))
    width = _number(doc.get("width"), "the pen width", 1e-4, MAX_WIDTH)
    if width is None:
        raise _Damaged("a drawing has no pen width")
    return Drawing(tuple(strokes), width)


def _text(value, what: str, limit: int = MAX_NAME) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise _Damaged(f"{what} is not a text of at most {limit} characters")
    return value


class _Reader:
    """Reads one archive's examples, checking each member before decoding it."""

    def __init__(self, archive: zipfile.ZipFile, names: set[str]) -> None:
        self.archive, self.names, self.count = archive, names, 0
        self.pixels = 0  # of the images decoded so far

    def example(self, item) -> Example:
        self.count += 1
        if self.count > MAX_EXAMPLES:
            raise _Damaged(f"over {MAX_EXAMPLES} examples")
        if not isinstance(item, dict):
            raise _Damaged("an example is not an object")
        source = _text(item.get("source", "image"), "an example's source", 4096)
        if "drawing" in item:
            drawing = _drawing(item["drawing"])
            return Example(drawing.preprocess(), source, drawing)
        if "image" not in item:
            raise _Damaged("an example has neither a drawing nor an image")
        name = _text(item.get("image"), "an image name", 4096)
        if name not in self.names:
            raise _Damaged(f"missing image {name}")
        try:
            with Image.open(io.BytesIO(self.archive.read(name))) as img:
                if img.width * img.height > MAX_IMAGE_PIXELS:
                    raise _Damaged(f"image {name} is too large ({img.width}x{img.height})")
                self.pixels += img.width * img.height
                if self.pixels > MAX_TOTAL_PIXELS:
                    raise _Damaged(
                        f"its images are too large together (over {MAX_TOTAL_PIXELS:,} pixels)"
                    )
                img.load()
                picture = keep_picture(img)
        except Image.DecompressionBombError:
            raise _Damaged(f"image {name} is too large (a decompression bomb?)") from None
        except (OSError, SyntaxError) as exc:
            raise _Damaged(f"image {name} is unreadable ({exc})") from None
        from metagui.app.session import drawing_spec

        spec = drawing_spec()
        return Example(spec.image(picture), source, picture=picture, spec=spec)


def _manifest(archive: zipfile.ZipFile, names: set[str]) -> dict:
    if MANIFEST not in names:
        raise SessionFileError(f"not a metagui session (no {MANIFEST})")
    if archive.getinfo(MANIFEST).file_size > MAX_MANIFEST:
        raise SessionFileError("its manifest is too large")
    try:
        doc = json.loads(archive.read(MANIFEST))
    except RecursionError:
        raise SessionFileError("its manifest is nested too deeply") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SessionFileError(f"its manifest is not JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise SessionFileError("not a metagui session file")
    if doc.get("version") != VERSION:
        raise SessionFileError(f"session format version {doc.get('version')!r} is not supported")
    return doc


def _read(archive: zipfile.ZipFile) -> SavedSession:
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS or sum(i.file_size for i in infos) > MAX_UNPACKED:
        raise SessionFileError("too large when unpacked; not opened")
    names = {i.filename for i in infos}
    for info in infos:
        name = info.filename
        if name.startswith(("/", "\\")) or ".." in Path(name).parts or ":" in name:
            raise SessionFileError(f"unsafe member name {name!r}")
        if info.flag_bits & 0x1:
            raise SessionFileError(f"member {name!r} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise SessionFileError(f"member {name!r} uses an unsupported compression")
    doc = _manifest(archive, names)
    classes_doc = doc.get("classes")
    if not isinstance(classes_doc, list) or len(classes_doc) > MAX_CLASSES:
        raise _Damaged(f"its classes are not a list of at most {MAX_CLASSES}")
    reader = _Reader(archive, names)
    classes = []
    for c in classes_doc:
        if not isinstance(c, dict) or not isinstance(c.get("examples"), list):
            raise _Damaged("a class has no list of examples")
        name = _text(c.get("name"), "a class name")
        classes.append(TaskClass(name, [reader.example(e) for e in c["examples"]]))
    q, query = doc.get("query"), None
    if isinstance(q, dict) and "drawing" in q:
        query = _drawing(q["drawing"])
    elif isinstance(q, dict) and isinstance(q.get("images"), list) and q["images"]:
        query = tuple(reader.example(e) for e in q["images"])
    optional = {k: doc.get(k) for k in ("checkpoint", "checkpoint_path", "algorithm")}
    for key, value in optional.items():
        optional[key] = None if value is None else _text(value, f"the {key}", 4096)
    return SavedSession(
        classes, query, optional["checkpoint"],
        _number(doc.get("steps"), "steps", 0, MAX_STEPS, whole=True),
        _number(doc.get("lr"), "the learning rate", 0.0, MAX_LR),
        optional["checkpoint_path"], optional["algorithm"],
    )  # fmt: skip


def load(path: Path) -> SavedSession:
    """Read a whole session file; SessionFileError (one line naming the file) when it cannot be
    used. Nothing of it is used before all of it is read and checked."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            return _read(archive)
    except SessionFileError as exc:
        raise SessionFileError(f"{path.name}: {exc}") from None
    except (zipfile.BadZipFile, EOFError) as exc:
        raise SessionFileError(
            f"{path.name}: not a metagui session (damaged or not a zip)"
        ) from exc
    except (KeyError, TypeError, ValueError, OSError, AttributeError, RuntimeError,
            NotImplementedError, OverflowError, MemoryError) as exc:  # fmt: skip
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SessionFileError(f"{path.name}: damaged session file ({first})") from None
