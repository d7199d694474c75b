"""Archive members without trusting the archive: zip (our own local-header reads, CRC and
flag bits tolerated as torch tolerates them), tar, gzip/bz2/xz, all with bomb limits."""

from __future__ import annotations

import bz2
import io
import itertools
import lzma
import mmap
import posixpath
import stat
import struct
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from bastion.integrity.interface import ArchiveLimits

__all__ = [
    "Member",
    "decompress",
    "iter_tar",
    "iter_zip",
    "iter_zip_members",
    "zip_index",
]


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


def zip_index(buf: Any, limits: ArchiveLimits) -> tuple[list[zipfile.ZipInfo], list[str]]:
    """The central directory's file entries (what torch and zip readers list), or the
    ``(rule, message)`` refusing the whole archive: unreadable, too many entries, or
    members whose data overlap (the non-recursive zip bomb reuses one compressed stream
    for every entry)."""
    try:
        zf = zipfile.ZipFile(io.BufferedReader(_BufFile(buf)))
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        return [], ["archive.malformed", f"unreadable zip: {exc}"[:300]]
    if len(infos) > limits.max_entries:
        return [], ["archive.bomb", f"{len(infos)} entries, limit {limits.max_entries}"]
    view = memoryview(buf)
    n = len(view)
    note: list[str] = []
    other = _miniz_directory(view, zf.start_dir)
    if other is not None:
        # torch's miniz reads the central directory where the end record says; Python's
        # zipfile shifts it by the bytes it takes for prepended data. Two directories
        # there: each reader lists different members. Both lists are scanned.
        known = {i.header_offset for i in infos}
        extra = [i for i in other if i.header_offset not in known]
        infos = infos + extra
        note = [
            "zip.differential",
            "two central directories: Python's zipfile and torch's miniz list different "
            f"members ({len(extra)} more read as miniz reads them); both are scanned",
        ]
    infos = [i for i in infos if not i.is_dir()]
    spans = []
    for info in infos:
        off = info.header_offset
        if off + 30 <= n and bytes(view[off : off + 4]) == b"PK\x03\x04":
            ln = int.from_bytes(view[off + 26 : off + 28], "little")
            lx = int.from_bytes(view[off + 28 : off + 30], "little")
            spans.append((off, off + 30 + ln + lx + info.compress_size, info.filename))
    spans.sort()
    for (_, end, a), (b_start, _, b) in itertools.pairwise(spans):
        if b_start < end:
            return [], [
                "archive.bomb",
                f"members {a!r} and {b!r} share compressed data (overlapping entries: "
                "a zip bomb); not inflated",
            ]
    return infos, note


_EOCD = b"PK\x05\x06"
_CDH = struct.Struct("<4s6H3I5HII")  # a central directory file header (46 bytes)


def _miniz_directory(view: memoryview, python_start: int) -> list[zipfile.ZipInfo] | None:
    """The members miniz (torch's zip reader) lists when it differs from Python's
    zipfile: miniz takes the last end record with 22 bytes after it and reads the
    central directory at the offset it states, never shifted for prepended data.
    None when both read the same directory (or miniz reads none)."""
    n = len(view)
    lo = max(0, n - 65_535 - 22)
    tail = bytes(view[lo:])
    k = tail.rfind(_EOCD, 0, max(0, len(tail) - 18))  # 22 bytes from k fit
    if k < 0:
        return None
    rec = tail[k : k + 22]
    count = int.from_bytes(rec[10:12], "little")
    cd_size = int.from_bytes(rec[12:16], "little")
    cd_off = int.from_bytes(rec[16:20], "little")
    if cd_off == python_start or 0xFFFFFFFF in (cd_size, cd_off) or count == 0xFFFF:
        return None
    end = cd_off + cd_size
    if end > n or bytes(view[cd_off : cd_off + 4]) != b"PK\x01\x02":
        return None
    out: list[zipfile.ZipInfo] = []
    p = cd_off
    for _ in range(count):
        if p + 46 > end:
            return None
        f = _CDH.unpack(bytes(view[p : p + 46]))
        if f[0] != b"PK\x01\x02":
            return None
        flag, method, crc, csize, usize = f[3], f[4], f[7], f[8], f[9]
        nlen, xlen, clen, ext_attr, hoff = f[10], f[11], f[12], f[15], f[16]
        name = bytes(view[p + 46 : p + 46 + nlen]).decode(
            "utf-8" if flag & 0x800 else "cp437", "replace"
        )
        info = zipfile.ZipInfo(name)
        info.flag_bits, info.compress_type, info.CRC = flag, method, crc
        info.compress_size, info.file_size = csize, usize
        info.external_attr, info.header_offset = ext_attr, hoff
        out.append(info)
        p += 46 + nlen + xlen + clen
    return out


def iter_zip(buf: Any, limits: ArchiveLimits, budget: list[int]) -> Iterator[Member]:
    """Every file entry of a zip, by its central-directory name (what torch reads), one at
    a time: the caller scans a member and drops it before the next is inflated."""
    infos, refused = zip_index(buf, limits)
    if refused:
        yield Member("", None, ((refused[0], refused[1]),))
        if not infos:
            return
    yield from iter_zip_members(buf, infos, limits, budget)


def iter_zip_members(
    buf: Any, infos: list[zipfile.ZipInfo], limits: ArchiveLimits, budget: list[int]
) -> Iterator[Member]:
    view = memoryview(buf)
    n = len(view)
    for info in infos:
        probs: list[tuple[str, str]] = []
        name = info.filename
        why = unsafe_path(name)
        if why:
            probs.append(("archive.path-traversal", f"member {name!r}: {why}"))
        kind = _zip_special(info)
        if kind:
            # unzip and other extractors create the link (or node); torch reads the bytes
            # as a file all the same, so they are still scanned below.
            probs.append(("archive.link", f"member {name!r} is a {kind} (zip file mode)"))
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
        raw = view[start : start + csize]
        limit = min(limits.max_member_bytes, *budget)
        data: Any
        try:
            if info.compress_type == zipfile.ZIP_STORED:
                data = raw  # a view of the archive: nothing is inflated or copied
            elif info.compress_type == zipfile.ZIP_DEFLATED:
                data = _bounded(zlib.decompressobj(-15), raw, limit, limits.max_ratio)
            elif info.compress_type == zipfile.ZIP_BZIP2:
                data = _bounded(bz2.BZ2Decompressor(), raw, limit, limits.max_ratio)
            elif info.compress_type == zipfile.ZIP_LZMA:
                data = _zip_lzma(raw, limit, limits.max_ratio)
            else:
                probs.append(
                    (
                        "archive.malformed",
                        f"member {name!r}: compression method {info.compress_type} unsupported",
                    )
                )
                yield Member(name, None, tuple(probs))
                continue
        except _TooBig as exc:
            probs.append(("archive.bomb", f"member {name!r}: {exc}{_why(str(exc), limit, limits)}"))
            yield Member(name, None, tuple(probs))
            continue
        except (zlib.error, OSError, EOFError, lzma.LZMAError) as exc:
            probs.append(("archive.malformed", f"member {name!r}: {exc}"[:300]))
            yield Member(name, None, tuple(probs))
            continue
        size = len(data)
        if info.compress_type != zipfile.ZIP_STORED:
            for k in range(len(budget)):
                budget[k] -= size
        if size != usize:
            probs.append(
                (
                    "zip.size-mismatch",
                    f"member {name!r}: header declares {usize} bytes, it inflates to {size}",
                )
            )
        if _crc(data) != info.CRC:
            probs.append(("zip.crc-mismatch", f"member {name!r}: CRC does not match"))
        yield Member(name, data, tuple(probs))


def _zip_special(info: zipfile.ZipInfo) -> str:
    """ "symbolic link", "device or fifo" when the member's Unix mode (the high half of
    its external attributes) says so, else ""."""
    mode = info.external_attr >> 16
    fmt = stat.S_IFMT(mode)
    if fmt == stat.S_IFLNK:
        return "symbolic link"
    if fmt in (stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO, stat.S_IFSOCK):
        return "device or fifo"
    return ""


def _why(msg: str, limit: int, limits: ArchiveLimits) -> str:
    if "past" not in msg or limit >= limits.max_member_bytes:
        return ""
    return " (what is left of the bytes one file may inflate to, nested archives included)"


def _crc(data: Any) -> int:
    view = memoryview(data)
    crc = 0
    for i in range(0, len(view), 1 << 24):
        crc = zlib.crc32(view[i : i + (1 << 24)], crc)
    return crc


class _TooBig(Exception):
    pass


_IN_STEP = 1 << 16  # input fed per call: the measured ratio is exact to 64 KiB
_OUT_STEP = 1 << 20
_RATIO_FLOOR = 1 << 20  # below this much output any ratio is fine (tiny members)
_SPILL = 64 * 1024**2  # inflated data beyond this goes to a temporary file, not memory


class _Sink:
    """Inflated bytes: in memory up to ``_SPILL``, then an unlinked temporary file that is
    memory-mapped for the scan (the page cache holds it, not the heap)."""

    def __init__(self) -> None:
        self.mem = bytearray()
        self.file: Any = None
        self.size = 0

    def write(self, b: bytes) -> None:
        self.size += len(b)
        if self.file is None and len(self.mem) + len(b) <= _SPILL:
            self.mem += b
            return
        if self.file is None:
            self.file = tempfile.TemporaryFile()  # noqa: SIM115 (closed with the mapping)
            self.file.write(self.mem)
            self.mem = bytearray()
        self.file.write(b)

    def result(self) -> Any:
        if self.file is None:
            return bytes(self.mem)
        self.file.flush()
        mm = mmap.mmap(self.file.fileno(), 0, access=mmap.ACCESS_READ)
        self.file.close()  # the mapping keeps the data alive
        return mm


def _bounded(
    dec: Any,
    raw: Any,
    limit: int,
    max_ratio: int | None = None,
    *,
    again: Callable[[], Any] | None = None,
    magic: bytes = b"",
    require_end: bool = True,
    skip_nul: bool = False,
    trailing: tuple[type[Exception], ...] = (),
) -> Any:
    """Inflate ``raw`` in steps, measuring what comes out against what went in: stop past
    ``limit`` bytes or past ``max_ratio``:1 (declared sizes are never trusted).

    With ``again``, streams that follow the first one (and start with ``magic``) are
    inflated too, as gzip, bz2 and xz readers do: a payload in a second gzip member is
    seen. ``skip_nul``: NUL bytes between streams are padding (Python's gzip skips
    them). ``trailing``: errors that, raised by the first block of a following stream,
    end the data quietly (Python's LZMAFile and BZ2File ignore such trailing bytes). A
    stream that ends before its end marker raises ``EOFError``.
    """
    view = memoryview(raw)
    n = len(view)
    sink = _Sink()
    is_zlib = not isinstance(dec, bz2.BZ2Decompressor | lzma.LZMADecompressor)
    fed = 0  # input bytes handed to decompressors, all streams

    def check() -> None:
        if sink.size > limit:
            raise _TooBig(f"inflates past {limit} bytes (stopped there)")
        used = fed - (len(dec.unconsumed_tail) if is_zlib else 0)
        if max_ratio and sink.size > _RATIO_FLOOR and sink.size > max_ratio * max(used, 1):
            raise _TooBig(
                f"inflates at more than {max_ratio}:1 ({sink.size} bytes from {used}; stopped)"
            )

    try:
        pos = 0
        fresh: tuple[type[Exception], ...] = ()  # errors that end a following stream
        while True:
            for i in range(pos, max(n, pos + 1), _IN_STEP):
                chunk = bytes(view[i : i + _IN_STEP])
                fed += len(chunk)
                if is_zlib:
                    sink.write(dec.decompress(chunk, _OUT_STEP))
                    check()
                    while dec.unconsumed_tail:
                        sink.write(dec.decompress(dec.unconsumed_tail, _OUT_STEP))
                        check()
                else:
                    while True:
                        try:
                            out = dec.decompress(chunk, max_length=_OUT_STEP)
                        except fresh:
                            return _end(sink)  # trailing bytes: not a stream, ignored
                        fresh = ()
                        sink.write(out)
                        check()
                        chunk = b""
                        if dec.eof or dec.needs_input:
                            break
                if dec.eof:
                    pos = i + len(bytes(view[i : i + _IN_STEP])) - len(dec.unused_data)
                    fed -= len(dec.unused_data)
                    break
            if not dec.eof:
                if require_end:
                    raise EOFError("compressed data ends before the end-of-stream marker")
                break
            if skip_nul:
                while pos < n and view[pos] == 0:
                    pos += 1
            if again is None or pos >= n or bytes(view[pos : pos + len(magic)]) != magic:
                break
            dec = again()  # the next stream (gzip member, bz2/xz/lzma stream)
            fresh = trailing
    except BaseException:
        if sink.file is not None:
            sink.file.close()
        raise
    return sink.result()


def _end(sink: _Sink) -> Any:
    return sink.result()


def _zip_lzma(raw: Any, limit: int, max_ratio: int | None = None) -> Any:
    b = bytes(raw[:4])
    if len(b) < 4:
        raise EOFError("truncated lzma header")
    psize = int.from_bytes(b[2:4], "little")
    props = bytes(raw[4 : 4 + psize])
    filt = lzma._decode_filter_properties(lzma.FILTER_LZMA1, props)  # type: ignore[attr-defined]
    dec = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[filt])
    # Zip's LZMA may omit the end marker (general-purpose flag bit 1 says which).
    return _bounded(dec, raw[4 + psize :], limit, max_ratio, require_end=False)


def decompress(kind: str, buf: Any, limit: int, max_ratio: int | None = None) -> Any:
    """gzip, bz2, xz, zlib or lzma-alone, stopping past ``limit`` bytes or ``max_ratio``
    (raises _TooBig)."""
    make: Callable[[], Any]
    if kind == "zlib":
        return _bounded(zlib.decompressobj(), buf, limit, max_ratio)
    if kind in ("lzma", "xz"):
        # joblib opens both with lzma.LZMAFile (FORMAT_AUTO): .lzma "alone" and .xz
        # streams chained in any order are all read; bytes that start no stream end it.
        first = lzma.LZMADecompressor(lzma.FORMAT_ALONE if kind == "lzma" else lzma.FORMAT_XZ)
        return _bounded(
            first,
            buf,
            limit,
            max_ratio,
            again=lambda: lzma.LZMADecompressor(lzma.FORMAT_AUTO),
            trailing=(lzma.LZMAError,),
        )
    if kind == "gzip":
        make, magic = (lambda: zlib.decompressobj(16 + zlib.MAX_WBITS)), b"\x1f\x8b"
        return _bounded(make(), buf, limit, max_ratio, again=make, magic=magic, skip_nul=True)
    make, magic = bz2.BZ2Decompressor, b"BZh"
    return _bounded(make(), buf, limit, max_ratio, again=make, magic=magic, trailing=(OSError,))


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
            # A view of the (already bounded) buffer: nothing inflates, so no budget is spent.
            yield Member(ti.name, view[ti.offset_data : ti.offset_data + ti.size], tuple(probs))
    except (tarfile.TarError, OSError, ValueError, EOFError) as exc:
        yield Member("", None, (("archive.malformed", f"tar: {exc}"[:300]),))
