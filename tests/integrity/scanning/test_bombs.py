"""Zip bombs: sizes are measured while inflating, never taken from the headers.

Every bomb here is generated in the test and is small on disk; each would inflate to
about 10 GiB. The scanner must stop early, hold little memory, and say why.
"""

from __future__ import annotations

import io
import random
import struct
import tracemalloc
import zipfile
import zlib

from bastion.integrity import ArchiveLimits, ScanVerdict, scan_bytes

GiB = 1024**3


def _zeros_deflate(total: int, step: int = 16 * 1024**2) -> bytes:
    """A raw deflate stream of ``total`` zero bytes, built without compressing them all:
    one full-flushed block of ``step`` zeros references nothing before it, so it repeats."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(b"\x00" * step) + c.flush(zlib.Z_FULL_FLUSH)
    return block * (total // step) + c.flush()


def _zip_one(name: str, raw: bytes, *, declared: int, crc: int = 0) -> bytes:
    """A one-member deflated zip whose headers declare ``declared`` bytes inflated."""
    fn = name.encode()
    local = struct.pack(
        "<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(raw), declared, len(fn), 0
    )
    central = struct.pack(
        "<4sHHHHHHIIIHHHHHII",
        b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc, len(raw), declared, len(fn), 0, 0, 0, 0, 0, 0,
    )  # fmt: skip
    cd_off = len(local) + len(fn) + len(raw)
    eocd = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 1, 1, len(central) + len(fn), cd_off, 0)
    return local + fn + raw + central + fn + eocd


def _peak(fn: object) -> tuple[object, int]:
    tracemalloc.start()
    try:
        out = fn()  # type: ignore[operator]
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_zip_bomb_member_header_lies_about_size() -> None:
    """10 GiB of zeros whose headers declare 1 KiB: a declared-ratio check sees 1 KiB from
    ~10 MB and lets it through; the measured ratio stops it after about a megabyte."""
    raw = _zeros_deflate(10 * GiB)
    assert len(raw) < 12 * 1024**2
    bomb = _zip_one("model.bin", raw, declared=1024)
    info = zipfile.ZipFile(io.BytesIO(bomb)).infolist()[0]
    assert info.file_size == 1024  # what the headers say
    r, peak = _peak(lambda: scan_bytes(bomb, "bomb.zip"))
    assert r.verdict is ScanVerdict.ERROR  # type: ignore[attr-defined]
    (f,) = [f for f in r.findings if f.rule_id == "archive.bomb"]  # type: ignore[attr-defined]
    assert "model.bin" in f.message and "1000:1" in f.message
    assert peak < 64 * 1024**2


def test_zip_bomb_header_lies_and_stays_under_the_ratio() -> None:
    """Data that compresses only ~100:1 passes the ratio; the header's small size must not
    let it grow: the measured size stops it at the member limit."""
    rng = random.Random(3)
    block = bytes(rng.randrange(0x61, 0x7B) for _ in range(4096))  # text: "a".."z"
    data = block * 4096  # 16 MiB
    raw = zlib.compress(data, 9)[2:-4]
    bomb = _zip_one("w.bin", raw, declared=100, crc=zlib.crc32(data))
    r = scan_bytes(bomb, limits=ArchiveLimits(max_member_bytes=8 * 1024**2))
    (f,) = [f for f in r.findings if f.rule_id == "archive.bomb"]
    assert "inflates past 8388608 bytes" in f.message
    ok = scan_bytes(bomb)  # within the limits: scanned, and the lie is reported
    assert {f.rule_id for f in ok.findings} == {"zip.size-mismatch"}
    assert ok.verdict is ScanVerdict.SUSPICIOUS


def _pattern(n: int) -> bytes:
    rng = random.Random(1)
    block = bytes(rng.randrange(0x61, 0x7B) for _ in range(4096))  # text: "a".."z"
    return (block * (n // 4096 + 1))[:n]


def _zip(entries: dict[str, bytes]) -> bytes:
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for k, v in entries.items():
            zf.writestr(k, v)
    return b.getvalue()


def test_nested_10gb_zip_bomb_is_stopped_by_the_expansion_budget() -> None:
    """42.zip-style: 16 x 16 x 16 members of 2.5 MiB, each level compressing ~100:1 or
    less (under the per-member ratio), about 100 KiB on disk for 10 GiB."""
    data = _zip({f"w{i}.bin": _pattern(5 * 2**19) for i in range(16)})
    for lvl in range(2):
        data = _zip({f"l{lvl}_{i}.zip": data for i in range(16)})
    assert len(data) < 256 * 1024
    r, peak = _peak(lambda: scan_bytes(data, "42.zip"))
    assert r.verdict is ScanVerdict.ERROR  # type: ignore[attr-defined]
    bombs = [f for f in r.findings if f.rule_id == "archive.bomb"]  # type: ignore[attr-defined]
    assert bombs and all("inflates past" in f.message for f in bombs)
    assert r.bytes_scanned < 400 * 1024**2  # type: ignore[attr-defined]
    assert peak < 200 * 1024**2


def test_overlapping_entries_zip_bomb_is_refused_without_inflating() -> None:
    """The non-recursive bomb: many directory entries share one compressed stream."""
    one = _zip({"aaaa.bin": _pattern(40 * 1024**2)})
    cd = one.index(b"PK\x01\x02")
    eocd = one.index(b"PK\x05\x06")
    record = one[cd:eocd]
    records = b"".join(record.replace(b"aaaa.bin", f"{i:04d}.bin".encode()) for i in range(256))
    end = bytearray(one[eocd:])
    struct.pack_into("<HHI", end, 8, 256, 256, len(records))
    bomb = one[:cd] + records + bytes(end)
    assert sum(i.file_size for i in zipfile.ZipFile(io.BytesIO(bomb)).infolist()) == 10 * GiB
    r = scan_bytes(bomb)
    (f,) = r.findings
    assert f.rule_id == "archive.bomb" and "overlapping" in f.message
    assert r.bytes_scanned == len(bomb)


def test_gzip_bomb_is_stopped_by_the_measured_ratio() -> None:
    raw = _zeros_deflate(10 * GiB)
    gz = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + raw + struct.pack("<II", 0, 0)
    r = scan_bytes(gz)
    (f,) = r.findings
    assert f.rule_id == "archive.bomb" and "1000:1" in f.message


def test_stored_members_and_tar_members_spend_no_budget() -> None:
    """A 10 GB PyTorch checkpoint stores its tensors uncompressed: views of the file, not
    inflated bytes. Limits bound what is inflated, never what is merely stored."""
    text = b"weights as text " * 400  # 6,400 bytes
    tight = ArchiveLimits(max_member_bytes=1000, max_total_bytes=1000)
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("a.txt", text)
        zf.writestr("b.txt", text)
    assert scan_bytes(b.getvalue(), limits=tight).verdict is ScanVerdict.SAFE
    from tests.integrity.scanning.corpus import _tar

    assert scan_bytes(_tar({"a.txt": text}), limits=tight).verdict is ScanVerdict.SAFE
    deflated = _zip({"a.txt": text})
    r = scan_bytes(deflated, limits=tight)
    assert [f.rule_id for f in r.findings] == ["archive.bomb"]
