"""Decode Omniglot (zip or folder) once into preprocessed uint8 arrays, cached as ``.npy``."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from core.data.paths import cache_dir, ensure_omniglot_set
from core.data.preprocess import DEFAULT_SIZE, PREPROCESS_VERSION, ImageError, preprocess_image
from core.files import write_text, write_with

_ENTRY = re.compile(
    r"(?:^|/)images_(background|evaluation)/([^/]+)/(character\d+)/(\d+)_(\d+)\.png$"
)

#: ``progress(which, done, total)``: ``done`` of the ``total`` images of set ``which``
#: ("background" or "evaluation") are decoded.
DecodeProgress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class OmniglotSet:
    """One Omniglot set, decoded and preprocessed.

    ``images``: uint8 array ``(n_characters, n_drawers, size, size)``, ink = 255;
    ``characters[i]``: ``"Alphabet/characterNN"`` of row ``i``; drawer ``d`` is file ``_DD`` = d+1.
    """

    name: str
    images: np.ndarray
    characters: tuple[str, ...]

    @property
    def alphabets(self) -> tuple[str, ...]:
        """Alphabet of every character row."""
        return tuple(c.split("/")[0] for c in self.characters)


def _members(source: Path, which: str) -> list[str]:
    """Names of the ``images_<which>`` PNGs of a zip, or paths relative to ``source``'s parent
    of an extracted folder, in a fixed order."""
    if source.is_dir():
        names = [f"{source.name}/{p.relative_to(source).as_posix()}" for p in source.rglob("*.png")]
    else:
        try:
            with zipfile.ZipFile(source) as archive:
                names = archive.namelist()
        except zipfile.BadZipFile:
            raise ImageError(f"{source}: not a valid zip archive (truncated or corrupt?)") from None
    return sorted(n for n in names if (m := _ENTRY.search(n)) and m.group(1) == which)


def _read(source: Path, members: list[str]) -> Iterator[tuple[str, bytes]]:
    """(member, file bytes) for every member of a zip or an extracted folder."""
    if source.is_dir():
        for name in members:
            yield name, (source.parent / name).read_bytes()
        return
    try:
        with zipfile.ZipFile(source) as archive:
            for name in members:
                yield name, archive.read(name)
    except zipfile.BadZipFile:
        raise ImageError(f"{source}: not a valid zip archive (truncated or corrupt?)") from None


def _decode(
    source: Path, which: str, size: int, progress: DecodeProgress | None = None
) -> OmniglotSet:
    by_char: dict[str, dict[int, np.ndarray]] = {}
    members = _members(source, which)
    entries = _read(source, members)
    for done, (rel, data) in enumerate(
        tqdm(
            entries,
            total=len(members),
            desc=f"decoding Omniglot {which}",
            unit="img",
            leave=False,
            disable=None,
        ),
        start=1,
    ):
        _, alphabet, character, _, drawer = _ENTRY.search(rel).groups()
        try:
            with Image.open(io.BytesIO(data)) as img:
                arr = preprocess_image(img, size)[0].numpy()
        except (OSError, ValueError) as exc:
            raise ImageError(f"{source}: {rel}: not a readable image ({exc})") from None
        by_char.setdefault(f"{alphabet}/{character}", {})[int(drawer) - 1] = arr
        if progress is not None:
            progress(which, done, len(members))
    if not by_char:
        raise ImageError(f"{source}: holds no images_{which}/<Alphabet>/characterNN/*.png files")
    characters = sorted(by_char)
    n_drawers = max(len(v) for v in by_char.values())
    images = np.zeros((len(characters), n_drawers, size, size), dtype=np.uint8)
    for i, name in enumerate(characters):
        drawings = by_char[name]
        if len(drawings) != n_drawers:
            raise ImageError(f"{source}: {name} has {len(drawings)} drawings, expected {n_drawers}")
        for j, (_, arr) in enumerate(sorted(drawings.items())):
            images[i, j] = np.round(arr * 255.0).astype(np.uint8)
    return OmniglotSet(which, images, tuple(characters))


def _cache_key(source: Path, size: int) -> str:
    stat = source.stat()
    ident = f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{size}|{PREPROCESS_VERSION}"
    return hashlib.sha1(ident.encode()).hexdigest()[:12]


def load_omniglot_set(
    root: Path,
    which: str,
    size: int = DEFAULT_SIZE,
    cache: Path | None = None,
    progress: DecodeProgress | None = None,
) -> OmniglotSet:
    """Load ``images_<which>`` from ``root/omniglot``, decoding it only the first time.

    ``progress(which, done, total)`` is called after every decoded image (not for a load from
    the cache): ``done`` of the set's ``total`` images.

    The decoded array is cached in ``cache`` (default: the user cache folder) as
    ``omniglot-<which>-<size>px-<key>.npy`` plus a ``.json`` of character names; the key changes
    when the source file or the preprocessing changes.
    """
    source = ensure_omniglot_set(root, which)
    cache = cache_dir() if cache is None else cache
    stem = cache / f"omniglot-{which}-{size}px-{_cache_key(source, size)}"
    npy, names = stem.with_suffix(".npy"), stem.with_suffix(".json")
    if npy.is_file() and names.is_file():
        try:
            images = np.load(npy, allow_pickle=False)
            characters = tuple(json.loads(names.read_text()))
            if images.shape[0] == len(characters):
                return OmniglotSet(which, images, characters)
        except (OSError, ValueError):
            pass  # unreadable cache: decode again below
    decoded = _decode(source, which, size, progress)
    try:
        cache.mkdir(parents=True, exist_ok=True)
        write_text(names, json.dumps(list(decoded.characters)))
        write_with(npy, lambda buffer: np.save(buffer, decoded.images))  # whole or not at all
    except OSError:
        pass  # a read-only cache only costs speed
    return decoded
