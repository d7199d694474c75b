"""De-identification operators: each maps a column's values to their de-identified form.

Every operator is deterministic for a given key (so masked copies of two tables still
join), takes ``None`` (a null) to ``None``, and fails closed: a value it cannot transform
(a date that does not parse, a value too short for FF3-1) raises an ``InputError`` naming
the column and operator, never the value, unless the policy says ``on_error: redact``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bastion.core.errors import InputError
from bastion.privacy.deid._fpe import Fpe, column_tweak

if TYPE_CHECKING:
    from bastion.privacy.deid._keys import KeyProvider
    from bastion.privacy.deid._vault import TokenVault

__all__ = [
    "Fpe",
    "FpeOp",
    "GeneralizeOp",
    "HashOp",
    "MaskOp",
    "Operator",
    "RedactOp",
    "ReplaceOp",
    "TokenizeOp",
]

Values = Sequence[str | None]
#: How many distinct values a keyed hash remembers across record batches (about 40 MB).
HASH_CACHE = 262_144


class Operator(ABC):
    """One column's transformation. ``name`` is the policy's operator name."""

    name: str = ""
    on_error: str = "fail"
    column: str = ""

    @abstractmethod
    def one(self, value: str) -> str:
        """The de-identified form of one non-null value."""

    def apply_arrow(self, col: pa.Array) -> pa.Array:
        """A string column's de-identified form: each distinct value transformed once
        (dictionary encoding), vectorised where the operator allows."""
        enc = pc.dictionary_encode(col)
        if isinstance(enc, pa.ChunkedArray):
            enc = enc.combine_chunks()
        new = pa.array(self.apply(enc.dictionary.to_pylist()), type=pa.string())
        return pc.take(new, enc.indices)

    def apply(self, values: Values) -> list[str | None]:
        cache: dict[str, str] = {}
        out: list[str | None] = []
        one = self.one
        for v in values:
            if v is None:
                out.append(None)
                continue
            r = cache.get(v)
            if r is None:
                try:
                    r = one(v)
                except InputError as exc:
                    if self.on_error != "redact":
                        raise InputError(
                            f"column {self.column!r}, operator {self.name}: {exc.message}"
                        ) from None
                    r = ""
                if len(cache) < 1_000_000:
                    cache[v] = r
            out.append(r)
        return out


class RedactOp(Operator):
    name = "redact"

    def __init__(self, replacement: str = "") -> None:
        self.replacement = replacement

    def one(self, value: str) -> str:
        return self.replacement

    def apply(self, values: Values) -> list[str | None]:
        r = self.replacement
        return [None if v is None else r for v in values]

    def apply_arrow(self, col: pa.Array) -> pa.Array:
        const = pa.scalar(self.replacement, pa.string())
        return pc.if_else(pc.is_null(col), pa.scalar(None, pa.string()), const)


class ReplaceOp(RedactOp):
    name = "replace"


class MaskOp(Operator):
    """Partial masking: all but the first ``keep_first`` and last ``keep_last`` characters
    become ``char``; with ``keep_separators`` punctuation and spaces stay."""

    name = "mask"

    def __init__(
        self, char: str = "*", keep_first: int = 0, keep_last: int = 4, keep_separators: bool = True
    ) -> None:
        if len(char) != 1:
            raise InputError("mask: char must be one character")
        self.char, self.first, self.last, self.seps = char, keep_first, keep_last, keep_separators

    def one(self, value: str) -> str:
        n = len(value)
        keep = self.first + self.last
        if keep >= n:
            # Never hand a short value back whole: mask all of it.
            return self.char * n
        c = self.char
        if not self.seps:
            return value[: self.first] + c * (n - keep) + value[n - self.last :]
        mid = "".join(ch if not ch.isalnum() else c for ch in value[self.first : n - self.last])
        return value[: self.first] + mid + value[n - self.last :]

    def apply_arrow(self, col: pa.Array) -> pa.Array:
        col = _plain_strings(col)
        if len(self.char.encode()) != 1 or not pc.all(pc.string_is_ascii(col)).as_py():
            return super().apply_arrow(col)  # non-ASCII: str.isalnum decides, per value
        # ASCII only: one byte per character, so the masking is a numpy pass over the data
        # buffer: byte k of value i is masked when the value is too short to keep anything,
        # or when k is between the kept head and tail and (keeping separators) alphanumeric.
        if len(col) == 0:
            return col
        _validity, offsets_buf, data_buf = col.buffers()
        offsets = np.frombuffer(offsets_buf, dtype=np.int32)[col.offset : col.offset + len(col) + 1]
        start, end = int(offsets[0]), int(offsets[-1])
        if data_buf is None or end == start:
            return col
        data = np.frombuffer(data_buf, dtype=np.uint8)[start:end].copy()
        lengths = np.diff(offsets)
        pos = np.arange(end - start, dtype=np.int64) - np.repeat(offsets[:-1] - start, lengths)
        n = np.repeat(lengths, lengths)
        keep = self.first + self.last
        hit = (pos >= self.first) & (pos < n - self.last)
        if self.seps:
            hit &= _ASCII_ALNUM[data]
        hit |= n <= keep  # never hand a short value back whole: mask all of it
        data[hit] = ord(self.char)
        rebased = pa.py_buffer((offsets - start).astype(np.int32).tobytes())
        return pa.StringArray.from_buffers(
            len(col), rebased, pa.py_buffer(data.tobytes()), col.is_valid().buffers()[1]
            if col.null_count else None, col.null_count,
        )  # fmt: skip


_ASCII_ALNUM = np.zeros(256, dtype=bool)
for _lo, _hi in ((48, 57), (65, 90), (97, 122)):
    _ASCII_ALNUM[_lo : _hi + 1] = True


def _plain_strings(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One ``string`` array (chunks combined, ``large_string`` narrowed)."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if pa.types.is_large_string(col.type):
        col = pc.cast(col, pa.string())
    return col


class HashOp(Operator):
    """Keyed hash (HMAC-SHA256): joinable across tables that use the same key, not
    reversible, not computable without the key (unlike a plain or randomly salted hash)."""

    name = "hash"

    def __init__(self, key: bytes, length: int = 32, prefix: str = "") -> None:
        if not 8 <= length <= 64:
            raise InputError("hash: length must be 8-64 hex characters")
        self.key, self.length, self.prefix = key, length, prefix
        self._cache: dict[str, str] = {}

    def one(self, value: str) -> str:
        return self.prefix + hmac.digest(self.key, value.encode(), "sha256").hex()[: self.length]

    def apply_arrow(self, col: pa.Array) -> pa.Array:
        """Each distinct value of the batch hashed once, and remembered across batches (up
        to :data:`HASH_CACHE` values, so memory stays bounded). The HMAC is RFC 2104's
        construction on SHA-256 states primed with the padded key once, not per value
        (the same bytes as ``hmac.digest``, about twice as fast on short values)."""
        enc = pc.dictionary_encode(col)
        if isinstance(enc, pa.ChunkedArray):
            enc = enc.combine_chunks()
        key = self.key if len(self.key) <= 64 else hashlib.sha256(self.key).digest()
        key = key.ljust(64, b"\0")
        inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
        cache, prefix, length = self._cache, self.prefix, self.length
        out: list[str] = []
        add = out.append
        for v in enc.dictionary.to_pylist():
            r = cache.get(v)
            if r is None:
                i = inner.copy()
                i.update(v.encode())
                o = outer.copy()
                o.update(i.digest())
                r = prefix + o.hexdigest()[:length]
                if len(cache) < HASH_CACHE:
                    cache[v] = r
            add(r)
        return pc.take(pa.array(out, type=pa.string()), enc.indices)


class TokenizeOp(Operator):
    """Deterministic vault tokens (reversible by authorised, audited detokenization)."""

    name = "tokenize"

    def __init__(self, vault: TokenVault, namespace: str) -> None:
        self.vault, self.namespace = vault, namespace

    def one(self, value: str) -> str:
        return self.vault.tokenize([value], self.namespace)[0]

    def apply(self, values: Values) -> list[str | None]:
        present = [v for v in values if v is not None]
        uniq = list(dict.fromkeys(present))
        mapping = dict(zip(uniq, self.vault.tokenize(uniq, self.namespace), strict=True))
        return [None if v is None else mapping[v] for v in values]


class FpeOp(Operator):
    """FF3-1 format-preserving encryption, tweak per column (or the policy's ``tweak``)."""

    name = "fpe"

    def __init__(
        self, key: bytes, column: str, alphabet: str = "digits", tweak: str | None = None
    ) -> None:
        self.fpe = Fpe(key, column_tweak(key, tweak or column), alphabet)

    def one(self, value: str) -> str:
        return self.fpe.encrypt(value)


_YEAR = re.compile(
    r"(?<!\d)(\d{4})-(\d{1,2})(?:-\d{1,2})?(?!\d)|(?<!\d)(\d{1,2})[/.](\d{1,2})[/.](\d{4})(?!\d)"
)


class GeneralizeOp(Operator):
    """Coarser values: dates to ``year`` or ``month``, strings truncated to ``keep``
    characters (postal codes: ``keep: 3``), numbers bucketed by ``bucket`` width."""

    name = "generalize"

    def __init__(
        self,
        to: str | None = None,
        keep: int | None = None,
        bucket: float | None = None,
        fill: str = "*",
    ) -> None:
        given = [x is not None for x in (to, keep, bucket)]
        if sum(given) != 1:
            raise InputError("generalize: give exactly one of to (year|month), keep or bucket")
        if to is not None and to not in ("year", "month"):
            raise InputError("generalize: to must be year or month")
        if keep is not None and keep < 0:
            raise InputError("generalize: keep must be 0 or more")
        if bucket is not None and not bucket > 0:
            raise InputError("generalize: bucket must be a positive width")
        self.to, self.keep, self.bucket, self.fill = to, keep, bucket, fill

    def apply_arrow(self, col: pa.Array) -> pa.Array:
        if self.to is not None:
            iso = pc.match_substring_regex(col, r"^\d{4}-(0[1-9]|1[0-2])(-\d{1,2})?([T ].*)?$")
            if pc.all(pc.or_kleene(iso, pc.is_null(col))).as_py():
                return pc.utf8_slice_codeunits(col, 0, 4 if self.to == "year" else 7)
        return super().apply_arrow(col)

    def one(self, value: str) -> str:
        if self.to is not None:
            m = _YEAR.search(value)
            if m is None:
                raise InputError("a value is not a date (YYYY-MM-DD, D/M/YYYY)")
            if m[1]:
                year, month = m[1], int(m[2])
            else:  # M/D/YYYY, or D/M/YYYY when the first part cannot be a month
                year, month = m[5], int(m[3]) if int(m[3]) <= 12 else int(m[4])
            if not 1 <= month <= 12:
                raise InputError("a value is not a date (month out of range)")
            return year if self.to == "year" else f"{year}-{month:02d}"
        if self.keep is not None:
            return value[: self.keep] + self.fill * max(0, len(value) - self.keep)
        assert self.bucket is not None
        try:
            x = float(value)
        except ValueError:
            raise InputError("a value is not a number") from None
        if x != x or x in (float("inf"), float("-inf")):
            raise InputError("a value is not a finite number")
        w = self.bucket
        lo = (x // w) * w
        if float(w).is_integer():
            return f"{int(lo)}-{int(lo + w)}"
        return f"{lo:g}-{lo + w:g}"


def hash_key(keys: KeyProvider, name: str) -> bytes:
    return keys.key(f"hash-{name}")[1]


def fpe_key(keys: KeyProvider, name: str) -> bytes:
    return keys.key(f"fpe-{name}")[1]
