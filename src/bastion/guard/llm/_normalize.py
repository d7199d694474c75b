"""What a prompt looks like once its disguises are taken off.

A prompt is scanned in several *views*: the NFKC-normalised text with invisible
characters removed and confusable letters folded to Latin, its ROT13, URL-decoded text,
base64 and hex payloads decoded (and scanned again, two levels deep), and any text hidden
in Unicode tag characters (U+E0000 block, "ASCII smuggling"). Each view is scanned by the
same rules; a rule that fires only in a decoded or hidden view is itself evidence of
obfuscation. Everything is bounded: characters scanned, payloads decoded, depth.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata
import urllib.parse
from dataclasses import dataclass

__all__ = ["Invisible", "View", "find_invisible", "views"]

MAX_PAYLOADS = 16
MAX_DEPTH = 2
MIN_B64 = 16

_TAG_LO, _TAG_HI = 0xE0000, 0xE007F
_ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u2060\ufeff\u180e\u00ad\u2061\u2062\u2063\u2064")
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
_ZWJ = "\u200d"

# Letters of other scripts that render like Latin ones, as (look-alike, Latin) pairs: the
# common subset of Unicode's confusables.txt for Cyrillic, Greek and Armenian (NFKC already
# folds full-width forms, mathematical alphanumerics and ligatures).
_CONFUSABLE_PAIRS = (
    "\u0430a\u0435e\u043eo\u0440p\u0441c\u0443y\u0445x\u0455s\u0456i\u0458j\u0501d\u0261g"
    "\u04bbh\u04cfl\u0578n\u057du\u051bq\u051dw\u03bdv\u043cm\u0442t\u043ak\u0432b\u043dh"
    "\u0410A\u0412B\u0415E\u041aK\u041cM\u041dH\u041eO\u0420P\u0421C\u0422T\u0423Y\u0425X"
    "\u0405S\u0406I\u0408J\u0500D\u03b1a\u03bfo\u03c1p\u03b9i\u03bak\u03c4t\u03c5u\u03c7x"
    "\u03b5e\u0391A\u0392B\u0395E\u0396Z\u0397H\u0399I\u039aK\u039cM\u039dN\u039fO\u03a1P"
    "\u03a4T\u03a5Y\u03a7X\u0131i"
)
_CONFUSABLES = str.maketrans(
    {_CONFUSABLE_PAIRS[i]: _CONFUSABLE_PAIRS[i + 1] for i in range(0, len(_CONFUSABLE_PAIRS), 2)}
)
_LATIN_WORD = re.compile(r"[^\W\d_]+")
_B64 = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/_-]{16,}={0,2}(?![A-Za-z0-9+/=_-])")
_HEX = re.compile(r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}[\s:,]?){8,}(?![0-9A-Fa-f])")
_PCT = re.compile(r"%[0-9A-Fa-f]{2}")
_HIDDEN = re.compile("[" + "".join(sorted(_ZERO_WIDTH | _BIDI)) + "\U000e0000-\U000e007f]")
_ENCODED_HINT = re.compile(r"[A-Za-z0-9+/_-]{16}|(?:[0-9A-Fa-f]{2}[\s:,]?){8}")
_NON_LATIN = re.compile("[^\x00-\u036f]")


@dataclass(frozen=True, slots=True)
class Invisible:
    """Invisible or direction-changing characters found in the raw text."""

    tags: int = 0
    zero_width: int = 0
    bidi: int = 0
    mixed_script_words: int = 0
    hidden_text: str = ""  # what the tag characters spell, decoded to ASCII


@dataclass(frozen=True, slots=True)
class View:
    """One way of reading the prompt: ``how`` it was obtained and the text to scan."""

    how: str  # "text", "rot13", "url-decoded", "base64", "hex", "hidden tags"
    text: str
    depth: int = 0

    @property
    def obfuscated(self) -> bool:
        return self.how != "text"


def _is_symbol(ch: str) -> bool:
    return unicodedata.category(ch) in ("So", "Sk") or 0xFE00 <= ord(ch) <= 0xFE0F


def find_invisible(text: str) -> Invisible:
    tags = zero = bidi = 0
    hidden: list[str] = []
    for m in _HIDDEN.finditer(text):
        i = m.start()
        ch = text[i]
        o = ord(ch)
        if _TAG_LO <= o <= _TAG_HI:
            tags += 1
            if 0xE0020 <= o <= 0xE007E:
                hidden.append(chr(o - 0xE0000))
        elif ch in _ZERO_WIDTH:
            if (
                ch == _ZWJ
                and 0 < i < len(text) - 1
                and (_is_symbol(text[i - 1]) or _is_symbol(text[i + 1]))
            ):
                continue  # emoji ZWJ sequences are ordinary text
            zero += 1
        elif ch in _BIDI:
            bidi += 1
    mixed = 0
    if _NON_LATIN.search(text):
        for w in _LATIN_WORD.findall(text):
            if w.translate(_CONFUSABLES) != w and any("a" <= c.lower() <= "z" for c in w):
                mixed += 1
    return Invisible(tags, zero, bidi, mixed, "".join(hidden))


def clean(text: str) -> str:
    """NFKC, invisible and tag characters removed, confusables folded to Latin."""
    out = text if text.isascii() else unicodedata.normalize("NFKC", text)
    if out.isascii():
        return out
    return _HIDDEN.sub("", out).translate(_CONFUSABLES)


def _printable(s: str) -> bool:
    if not s:
        return False
    good = sum(1 for c in s if c.isprintable() or c in "\n\r\t")
    return good / len(s) >= 0.9 and sum(c.isalpha() for c in s) >= len(s) * 0.4


def _decode_b64(token: str) -> str | None:
    t = token.replace("-", "+").replace("_", "/")
    t += "=" * (-len(t) % 4)
    try:
        raw = base64.b64decode(t, validate=True)
        s = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    return s if _printable(s) else None


def _decode_hex(token: str) -> str | None:
    digits = re.sub(r"[\s:,]", "", token)
    if len(digits) % 2:
        return None
    try:
        s = bytes.fromhex(digits).decode("utf-8")
    except ValueError:
        return None
    return s if _printable(s) else None


def views(text: str, hidden: str = "") -> list[View]:
    """Every view of ``text`` worth scanning (the first is always the cleaned text)."""
    base = clean(text)
    out = [View("text", base)]
    if hidden:
        out.append(View("hidden tags", clean(hidden)))
    if any(c.isalpha() for c in base):
        out.append(View("rot13", codecs.encode(base, "rot13")))
    if len(_PCT.findall(base)) >= 3:
        out.append(View("url-decoded", urllib.parse.unquote(base)))
    payloads = 0
    frontier = [View("text", base)] if _ENCODED_HINT.search(base) else []
    for depth in range(1, MAX_DEPTH + 1):
        nxt: list[View] = []
        for v in frontier:
            for m in _B64.finditer(v.text):
                tok = m.group(0)
                if len(tok) < MIN_B64 or (tok.isalpha() and tok.islower()):
                    continue
                dec = _decode_b64(tok)
                if dec is not None and payloads < MAX_PAYLOADS:
                    payloads += 1
                    nxt.append(View("base64", clean(dec), depth))
            for m in _HEX.finditer(v.text):
                dec = _decode_hex(m.group(0))
                if dec is not None and payloads < MAX_PAYLOADS:
                    payloads += 1
                    nxt.append(View("hex", clean(dec), depth))
        out.extend(nxt)
        frontier = nxt
        if not frontier:
            break
    return out
