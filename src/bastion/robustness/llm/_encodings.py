"""Deterministic text mutators the encoding probes use, and their inverses.

``homoglyphs`` swaps Latin letters for Cyrillic and Greek look-alikes; ``tag_smuggle``
writes ASCII as invisible Unicode tag characters (U+E0020..U+E007E); ``zero_width``
splices U+200B between characters. The inverses (``fold_homoglyphs``, ``untag``,
``strip_zero_width``) are what a normalising reader does first; the vulnerable test
server uses them to "follow" smuggled text, and detectors use them to read a reply."""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata

__all__ = [
    "B64_RUN",
    "b64",
    "decode_base64_blobs",
    "fold_homoglyphs",
    "homoglyphs",
    "normalise",
    "strip_zero_width",
    "tag_smuggle",
    "untag",
    "zero_width",
]

_LOOKALIKE = {
    "a": "\u0430",  # CYRILLIC SMALL LETTER A
    "c": "\u0441",
    "e": "\u0435",
    "i": "\u0456",
    "o": "\u043e",
    "p": "\u0440",
    "s": "\u0455",
    "x": "\u0445",
    "y": "\u0443",
    "h": "\u04bb",
    "j": "\u0458",
    "A": "\u0391",  # GREEK CAPITAL LETTER ALPHA
    "B": "\u0392",
    "E": "\u0395",
    "H": "\u0397",
    "K": "\u039a",
    "M": "\u039c",
    "O": "\u039f",
    "P": "\u03a1",
    "T": "\u03a4",
    "X": "\u03a7",
}
_FOLD = {v: k for k, v in _LOOKALIKE.items()}
_FOLD_TABLE = str.maketrans(_FOLD)
_ZW = "\u200b\u200c\u200d\u2060\ufeff"
_ZW_RE = re.compile(f"[{_ZW}]")
_TAG_RE = re.compile("[\U000e0000-\U000e007f]+")
B64_RUN = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{16,}={0,2}(?![A-Za-z0-9+/=])")


def homoglyphs(text: str) -> str:
    """Every letter with a look-alike swapped for it, outside double-quoted spans (the
    codes a probe asks for stay readable)."""
    parts = text.split('"')
    for i in range(0, len(parts), 2):
        parts[i] = "".join(_LOOKALIKE.get(c, c) for c in parts[i])
    return '"'.join(parts)


def fold_homoglyphs(text: str) -> str:
    return text.translate(_FOLD_TABLE)


def tag_smuggle(text: str) -> str:
    """ASCII text as Unicode tag characters: invisible in most renderers."""
    return "".join(chr(0xE0000 + ord(c)) for c in text if 0x20 <= ord(c) < 0x7F)


def untag(text: str) -> str:
    """The ASCII hidden in runs of tag characters, each run appended on its own line."""
    hidden = ["".join(chr(ord(c) - 0xE0000) for c in m.group(0)) for m in _TAG_RE.finditer(text)]
    visible = _TAG_RE.sub("", text)
    return "\n".join([visible, *hidden]) if hidden else text


def zero_width(text: str) -> str:
    return "\u200b".join(text)


def strip_zero_width(text: str) -> str:
    return _ZW_RE.sub("", text)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def decode_base64_blobs(text: str, *, limit: int = 16) -> list[str]:
    """The printable UTF-8 texts hidden in base64 runs of ``text`` (at most ``limit``)."""
    out: list[str] = []
    for m in B64_RUN.finditer(text):
        if len(out) >= limit:
            break
        blob = m.group(0)
        try:
            raw = base64.b64decode(blob + "=" * (-len(blob) % 4), validate=True)
            decoded = raw.decode("utf-8")
        except (binascii.Error, ValueError):
            continue
        if decoded and all(c.isprintable() or c in "\n\t\r" for c in decoded):
            out.append(decoded)
    return out


def normalise(text: str) -> str:
    """What a careful reader sees: tag characters revealed, zero-width characters removed,
    NFKC, homoglyphs folded, and base64 runs decoded (appended)."""
    text = fold_homoglyphs(unicodedata.normalize("NFKC", strip_zero_width(untag(text))))
    decoded = decode_base64_blobs(text)
    return "\n".join([text, *decoded]) if decoded else text
