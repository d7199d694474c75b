"""Archive members without trusting the archive: zip (our own local-header reads, CRC and
flag bits tolerated as torch tolerates them), tar, gzip/bz2/xz, all with bomb limits."""

from __future__ import annotations

import bz2
import io
import lzma
import posixpath
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["ArchiveLimits", "Member", "decompress", "iter_tar", "iter_zip"]


@dataclass(frozen=True)
class ArchiveLimits:
    """Bounds against bombs: entries, bytes produced, ratio, nesting."""

    max_entries: int = 100_000
    max_total_bytes: int = 8 * 1024**3
    max_member_bytes: int = 4 * 1024**3
    max_ratio: int = 1_000
    max_depth: int = 4


@dataclass(frozen=True)
class Member:
    """A member's bytes (or why it has none) and what is odd about it."""

    name: str
    data: Any | None
    problems: tuple[tuple[str, str], ...] = ()


class _BufFile(io.RawIOBase):
    """A seekable read-only file over a buffer, so zipfile reads the central directory
    of an mmap without copying the file."""

    def __init__(self, buf: Any) -> None:
        self._v = memoryview(buf)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: len(self._v)}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readinto(self, b: Any) -> int:
        chunk = self._v[self._pos : self._pos + len(b)]
        b[: len(chunk)] = chunk
        self._pos += len(chunk)
        return len(chunk)


def unsafe_path(name: str) -> str | None:
    """Why a member name could write outside the extraction directory, or None."""
    n = name.replace("\\", "/")
    if n.startswith("/") or (len(n) > 1 and n[1] == ":"):
        return "absolute path"
    if "\x00" in n:
        return "NUL byte in the name"
    parts = posixpath.normpath(n).split("/")
    if parts and parts[0] == "..":
        return "path climbs out with .."
    return None


def iter_zip(buf: Any, limits: ArchiveLimits, budget: list[int]) -> Iterator[Member]:
    """Every file entry of a zip, by its central-directory name (what torch reads)."""
    try:
        zf = zipfile.ZipFile(io.BufferedReader(_BufFile(buf)))
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        yield Member("", None, (("archive.malformed", f"unreadable zip: {exc}"[:300]),))
        return
    if len(infos) > limits.max_entries:
        yield Member(
            "", None, (("archive.bomb", f"{len(infos)} entries, limit {limits.max_entries}"),)
        )
        return
    view = memoryview(buf)
    n = len(view)
    for info in infos:
        if info.is_dir():
            continue
        probs: list[tuple[str, str]] = []
        name = info.filename
        why = unsafe_path(name)
        if why:
            probs.append(("archive.path-traversal", f"member {name!r}: {why}"))
        off = info.header_offset
        if off + 30 > n or bytes(view[off : off + 4]) != b"PK\x03\x04":
            probs.append(("archive.malformed", f"member {name!r}: no local header at {off}"))
            yield Member(name, None, tuple(probs))
            continue
        ln = int.from_bytes(view[off + 26 : off + 28], "little")
        lx = int.from_bytes(view[off + 28 : off + 30], "little")
        local = bytes(view[off + 30 : off + 30 + ln]).decode("utf-8", "replace")
        if local != name and local != name.replace("/", "\\"):
            probs.append(("zip.name-mismatch", f"local header names {local!r}, directory {name!r}"))
        start = off + 30 + ln + lx
        csize, usize = info.compress_size, info.file_size
        if start + csize > n:
            probs.append(("archive.malformed", f"member {name!r}: data runs past the end"))
            yield Member(name, None, tuple(probs))
            continue
        if info.flag_bits & 0x1:
            probs.append(("archive.encrypted", f"member {name!r} is encrypted: cannot inspect"))
            yield Member(name, None, tuple(probs))
            continue
        if csize and usize / csize > limits.max_ratio and usize > 1 << 20:
            probs.append(
                ("archive.bomb", f"member {name!r}: ratio {usize // csize}:1 over the limit")
            )
            yield Member(name, None, tuple(probs))
            continue
        raw = view[start : start + csize]
        limit = min(limits.max_member_bytes, budget[0])
        data: Any
        try:
            if info.compress_type == zipfile.ZIP_STORED:
                data = raw
            elif info.compress_type == zipfile.ZIP_DEFLATED:
                data = _bounded(zlib.decompressobj(-15), raw, limit)
            elif info.compress_type == zipfile.ZIP_BZIP2:
                data = _bounded(bz2.BZ2Decompressor(), raw, limit)
            elif info.compress_type == zipfile.ZIP_LZMA:
                data = _zip_lzma(raw, limit)
            else:
                probs.append(
                    (
                        "archive.malformed",
                        f"member {name!r}: compression method {info.compress_type} unsupported",
                    )
                )
                yield Member(name, None, tuple(probs))
                continue
        except _TooBig:
            probs.append(("archive.bomb", f"member {name!r} inflates past {limit} bytes"))
            yield Member(name, None, tuple(probs))
            continue
        except (zlib.error, OSError, EOFError, lzma.LZMAError) as exc:
            probs.append(("archive.malformed", f"member {name!r}: {exc}"[:300]))
            yield Member(name, None, tuple(probs))
            continue
        budget[0] -= len(data)
        if len(data) <= 64 * 1024**2 and zlib.crc32(data) != info.CRC:
            probs.append(("zip.crc-mismatch", f"member {name!r}: CRC does not match"))
        yield Member(name, data, tuple(probs))


class _TooBig(Exception):
    pass


def _bounded(dec: Any, raw: Any, limit: int) -> bytes:
    out = bytearray()
    step = 1 << 20
    for i in range(0, max(len(raw), 1), step):
        chunk = bytes(raw[i : i + step])
        if isinstance(dec, bz2.BZ2Decompressor | lzma.LZMADecompressor):
            while True:
                out += dec.decompress(chunk, max_length=step)
                if len(out) > limit:
                    raise _TooBig
                chunk = b""
                if dec.eof or dec.needs_input:
                    break
        else:
            out += dec.decompress(chunk, step)
            while dec.unconsumed_tail:
                if len(out) > limit:
                    raise _TooBig
                out += dec.decompress(dec.unconsumed_tail, step)
        if len(out) > limit:
            raise _TooBig
        if getattr(dec, "eof", False):
            break
    return bytes(out)


def _zip_lzma(raw: Any, limit: int) -> bytes:
    b = bytes(raw[:4])
    if len(b) < 4:
        raise EOFError("truncated lzma header")
    psize = int.from_bytes(b[2:4], "little")
    props = bytes(raw[4 : 4 + psize])
    filt = lzma._decode_filter_properties(lzma.FILTER_LZMA1, props)  # type: ignore[attr-defined]
    dec = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[filt])
    return _bounded(dec, raw[4 + psize :], limit)


def decompress(kind: str, buf: Any, limit: int) -> bytes:
    """gzip, bz2 or xz, stopping past ``limit`` bytes (raises _TooBig)."""
    if kind == "gzip":
        return _bounded(zlib.decompressobj(16 + zlib.MAX_WBITS), buf, limit)
    if kind == "bz2":
        return _bounded(bz2.BZ2Decompressor(), buf, limit)
    return _bounded(lzma.LZMADecompressor(), buf, limit)


def iter_tar(buf: Any, limits: ArchiveLimits, budget: list[int]) -> Iterator[Member]:
    """Regular members of an (uncompressed) tar; links and devices are reported, not read."""
    try:
        tf = tarfile.open(fileobj=io.BufferedReader(_BufFile(buf)), mode="r:")  # noqa: SIM115 (read lazily below)
    except (tarfile.TarError, OSError, ValueError, EOFError) as exc:
        yield Member("", None, (("archive.malformed", f"unreadable tar: {exc}"[:300]),))
        return
    count = 0
    view = memoryview(buf)
    try:
        for ti in tf:
            count += 1
            if count > limits.max_entries:
                yield Member("", None, (("archive.bomb", "too many tar members"),))
                return
            probs: list[tuple[str, str]] = []
            why = unsafe_path(ti.name)
            if why:
                probs.append(("archive.path-traversal", f"member {ti.name!r}: {why}"))
            if ti.issym() or ti.islnk():
                probs.append(("archive.link", f"member {ti.name!r} links to {ti.linkname!r}"))
                yield Member(ti.name, None, tuple(probs))
                continue
            if ti.isdir():
                continue
            if not ti.isfile():
                probs.append(("archive.link", f"member {ti.name!r} is a device or fifo"))
                yield Member(ti.name, None, tuple(probs))
                continue
            if ti.size > min(limits.max_member_bytes, budget[0]):
                probs.append(("archive.bomb", f"member {ti.name!r} is over the size limit"))
                yield Member(ti.name, None, tuple(probs))
                continue
            budget[0] -= ti.size
            yield Member(ti.name, view[ti.offset_data : ti.offset_data + ti.size], tuple(probs))
    except (tarfile.TarError, OSError, ValueError, EOFError) as exc:
        yield Member("", None, (("archive.malformed", f"tar: {exc}"[:300]),))
