"""The characters of ``glyphs`` (and ``kanjivg``): the inventory by script and the character split.

``char_subset`` puts a character in train, val or test by the SHA-1 of the character, the same on
every machine and in both datasets.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable

GLYPHS_SPLIT = "disjoint"
SUBSETS = ("train", "val", "test", "trainval")
#: Fractions of characters in val and test (the rest train), by SHA-1 of the character.
CHAR_VAL, CHAR_TEST = 0.15, 0.15


def _jis_level1() -> list[str]:
    """The 2,965 level-1 kanji of JIS X 0208 (rows 16-47), the commonly used ones."""
    out = []
    for row in range(0xB0, 0xD0):
        for col in range(0xA1, 0xFF):
            try:
                c = bytes([row, col]).decode("euc_jp")
            except UnicodeDecodeError:
                continue
            if len(c) == 1 and "\u4e00" <= c <= "\u9fff":
                out.append(c)
    return out


def _plain(chars: Iterable[str]) -> list[str]:
    """Characters without diacritics (no voiced kana, no accented letters) or small forms."""
    return [
        c
        for c in chars
        if len(unicodedata.normalize("NFD", c)) == 1
        and "LETTER SMALL" not in unicodedata.name(c, "")
    ]


def _span(a: str, b: str) -> list[str]:
    return [chr(i) for i in range(ord(a), ord(b) + 1) if unicodedata.name(chr(i), "")]


SYMBOLS = (
    "!?#$%&@*+=<>/\\|~^()[]{}§¶©®€£¥¢‰∞≈≠≤≥±×÷√∫∂∇∀∃∈∩∪⊂⊃¬∧∨†‡°¿¡№℃™¤"
    "★☆♠♣♥♦♪♫→←↑↓↔⇒⇔☺☼✓✗⌘∴∵∠⊥∮∝∅ℵ"
)  # fmt: skip


def inventory() -> dict[str, list[str]]:
    """The candidate characters by script (the dataset's groups), before look-alikes merge."""
    return {
        "Latin": [*_span("A", "Z"), *_span("a", "z"), *"ßæœøþðŋÆŒØÞÐŊ"],
        "Digits": list("0123456789"),
        "Greek": _plain([c for c in _span("\u0391", "\u03c9") if c != "\u03a2"]),
        "Cyrillic": _plain(_span("\u0410", "\u044f")),
        "Symbols": list(dict.fromkeys(SYMBOLS)),
        "Hiragana": _plain(_span("\u3042", "\u3093")),
        "Katakana": _plain(_span("\u30a2", "\u30f3")),
        "CJK": _jis_level1(),
    }


def script_of(c: str) -> str:
    """The script group a character belongs to (``CJK`` for any ideograph)."""
    for script, chars in _INVENTORY_INDEX().items():
        if c in chars:
            return script
    if "\u3040" <= c <= "\u309f":
        return "Hiragana"
    if "\u30a0" <= c <= "\u30ff":
        return "Katakana"
    if "\u2e80" <= c <= "\u9fff" or "\uf900" <= c <= "\ufaff" or c >= "\U00020000":
        return "CJK"
    return "Symbols"


_INDEX: dict[str, frozenset[str]] = {}


def _INVENTORY_INDEX() -> dict[str, frozenset[str]]:
    if not _INDEX:
        _INDEX.update({k: frozenset(v) for k, v in inventory().items()})
    return _INDEX


def _fraction(text: str) -> float:
    """A stable number in [0, 1) from ``text`` (SHA-1), the same on every machine."""
    return int.from_bytes(hashlib.sha1(text.encode("utf-8")).digest()[:8], "big") / 2.0**64


def char_subset(c: str) -> str:
    """``train``, ``val`` or ``test``: the subset character ``c`` belongs to (glyphs, kanjivg)."""
    u = _fraction("char:" + c)
    return "test" if u < CHAR_TEST else "val" if u < CHAR_TEST + CHAR_VAL else "train"


def subset_parts(subset: str) -> tuple[str, ...]:
    if subset not in SUBSETS:
        raise ValueError(f"unknown subset {subset!r}; choose one of {', '.join(SUBSETS)}")
    return ("train", "val") if subset == "trainval" else (subset,)
