"""FF3-1 format-preserving encryption (NIST SP 800-38G Rev. 1) on the ``ff3`` package.

Keys come from the key provider (256-bit AES keys); the 56-bit tweak is derived per
column (HMAC of the column name under the key), so one value encrypts differently in two
columns unless they share a tweak on purpose. Characters outside the alphabet (dashes,
spaces) stay where they are; the alphabet characters are encrypted as one string, which
FF3-1 requires to be long enough that the domain has at least a million values.
"""

from __future__ import annotations

import hashlib
import hmac
import math

from ff3 import FF3Cipher

from bastion.core.errors import InputError

__all__ = ["ALPHABETS", "Fpe", "column_tweak"]

ALPHABETS = {
    "digits": "0123456789",
    "hex": "0123456789abcdef",
    "letters": "abcdefghijklmnopqrstuvwxyz",
    "alnum": "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
}


def column_tweak(key: bytes, column: str) -> str:
    """The 56-bit FF3-1 tweak of ``column`` under ``key``, as 14 hex digits."""
    return hmac.new(key, b"bastion.fpe.tweak\x00" + column.encode(), hashlib.sha256).hexdigest()[
        :14
    ]


class Fpe:
    """FF3-1 over ``alphabet`` with ``key`` (16, 24 or 32 bytes) and a 56-bit ``tweak``."""

    def __init__(self, key: bytes, tweak: str, alphabet: str = "digits") -> None:
        if len(key) not in (16, 24, 32):
            raise InputError("FF3-1 key: expected 128, 192 or 256 bits")
        chars = ALPHABETS.get(alphabet)
        if chars is None:
            raise InputError(f"alphabet: expected one of {', '.join(ALPHABETS)}")
        if len(tweak) != 14:
            raise InputError("tweak: FF3-1 takes a 56-bit tweak (14 hex digits)")
        self.chars = chars
        self._set = frozenset(chars)
        self._cipher = FF3Cipher.withCustomAlphabet(key.hex(), tweak, chars)
        radix = len(chars)
        self.min_len = math.ceil(math.log(1_000_000) / math.log(radix))
        self.max_len = 2 * math.floor(96 / math.log2(radix))

    def _split(self, value: str) -> tuple[str, list[int]]:
        chars = self._set
        pos = [i for i, c in enumerate(value) if c in chars]
        return "".join(value[i] for i in pos), pos

    def _apply(self, value: str, encrypt: bool) -> str:
        core, pos = self._split(value)
        if not self.min_len <= len(core) <= self.max_len:
            raise InputError(
                f"FF3-1 needs {self.min_len}-{self.max_len} alphabet characters in a value, "
                f"this one has {len(core)}"
            )
        out = self._cipher.encrypt(core) if encrypt else self._cipher.decrypt(core)
        chars = list(value)
        for i, c in zip(pos, out, strict=True):
            chars[i] = c
        return "".join(chars)

    def encrypt(self, value: str) -> str:
        return self._apply(value, True)

    def decrypt(self, value: str) -> str:
        return self._apply(value, False)
