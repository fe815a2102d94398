"""``.metagui`` session files: a zip holding ``manifest.json`` (class names, drawings as strokes,
the query, checkpoint name, steps/lr) and dropped or dataset images as PNG files. Plain Python.

Reading is defensive: a file that is not a zip, has no manifest of this format, names members
outside the archive (``../``), is larger than a few MB when unpacked (zip bombs) or holds
unreadable images raises ``SessionFileError`` with a one-line reason; nothing is changed then.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from metagui.app.session import Drawing, Example, TaskClass, ink_picture, keep_picture

FORMAT, VERSION = "metagui-session", 1
MANIFEST = "manifest.json"
MAX_MEMBERS, MAX_UNPACKED = 2000, 64 * 1024 * 1024  # bytes, all members together
MAX_MANIFEST = 16 * 1024 * 1024


class SessionFileError(ValueError):
    """Not a usable session file; the message says why in one line."""


@dataclass(frozen=True)
class SavedSession:
    classes: list[TaskClass]
    query: Drawing | tuple[Example, ...] | None
    checkpoint: str | None
    steps: int | None
    lr: float | None


def _drawing_json(d: Drawing) -> dict:
    return {"width": d.width, "strokes": [[list(p) for p in s] for s in d.strokes]}


def _drawing(doc: dict) -> Drawing:
    strokes = tuple(tuple((float(x), float(y)) for x, y in s) for s in doc["strokes"])
    return Drawing(strokes, float(doc["width"]))


def save(path: Path, session: SavedSession) -> None:
    """Write ``session`` to ``path`` (via a temporary file, so a failure leaves the old one)."""
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
        "checkpoint": session.checkpoint,
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
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(MANIFEST, json.dumps(doc))
        for name, data in members.items():
            archive.writestr(name, data)
    tmp.replace(path)


def load(path: Path) -> SavedSession:
    """Read a session file; SessionFileError (one line) when it cannot be used."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_MEMBERS or sum(i.file_size for i in infos) > MAX_UNPACKED:
                raise SessionFileError(f"{path.name}: too large when unpacked; not opened")
            names = {i.filename for i in infos}
            for name in names:
                if name.startswith(("/", "\\")) or ".." in Path(name).parts or ":" in name:
                    raise SessionFileError(f"{path.name}: unsafe member name {name!r}")
            if MANIFEST not in names:
                raise SessionFileError(f"{path.name}: not a metagui session (no {MANIFEST})")
            doc = json.loads(archive.read(MANIFEST)[:MAX_MANIFEST])
            if not isinstance(doc, dict) or doc.get("format") != FORMAT:
                raise SessionFileError(f"{path.name}: not a metagui session file")
            if doc.get("version") != VERSION:
                raise SessionFileError(
                    f"{path.name}: session format version {doc.get('version')} is not supported"
                )

            def example(item: dict) -> Example:
                source = str(item.get("source", "image"))
                if "drawing" in item:
                    drawing = _drawing(item["drawing"])
                    return Example(drawing.preprocess(), source, drawing)
                name = str(item["image"])
                if name not in names:
                    raise SessionFileError(f"{path.name}: missing image {name}")
                with Image.open(io.BytesIO(archive.read(name))) as img:
                    img.load()
                    picture = keep_picture(img)
                from core.data.spec import PreprocessSpec

                spec = PreprocessSpec("ink", 28)
                return Example(spec.image(picture), source, picture=picture, spec=spec)

            classes = [
                TaskClass(str(c["name"]), [example(e) for e in c["examples"]])
                for c in doc["classes"]
            ]
            q = doc.get("query")
            query = None
            if q and "drawing" in q:
                query = _drawing(q["drawing"])
            elif q and q.get("images"):
                query = tuple(example(e) for e in q["images"])
            steps, lr = doc.get("steps"), doc.get("lr")
            return SavedSession(
                classes,
                query,
                None if doc.get("checkpoint") is None else str(doc["checkpoint"]),
                None if steps is None else int(steps),
                None if lr is None else float(lr),
            )
    except SessionFileError:
        raise
    except (zipfile.BadZipFile, EOFError) as exc:
        raise SessionFileError(
            f"{path.name}: not a metagui session (damaged or not a zip)"
        ) from exc
    except (KeyError, TypeError, ValueError, OSError, AttributeError) as exc:
        raise SessionFileError(f"{path.name}: damaged session file ({exc})") from exc
