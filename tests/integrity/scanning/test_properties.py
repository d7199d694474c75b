"""Property tests: the pickle walker and the format detector on arbitrary bytes never
crash, and nothing unparseable comes back safe."""

from __future__ import annotations

import contextlib
import pickle

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bastion.integrity import ScanVerdict, scan_bytes
from bastion.integrity.scanning._formats import detect
from bastion.integrity.scanning._onnx import OnnxMalformed, parse_onnx
from bastion.integrity.scanning._pickle import walk_pickles

_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_OPS = st.sampled_from(
    list(
        b"()0.NKMJGhjqrFILSVPgpUCXBTcio\x93\x82\x83\x84Rb\x81\x92tldeus}]\x94\x95\x80\x85\x86\x87\x88\x89"
    )
)


@_SETTINGS
@given(st.binary(max_size=512))
def test_walker_never_raises_on_random_bytes(data: bytes) -> None:
    res = walk_pickles(data)
    assert res.pickles >= 0
    if res.pickles == 0 and not res.globals:
        # Nothing parsed: the scan must not call it safe.
        assert data == b"" or res.issues


@_SETTINGS
@given(st.lists(st.one_of(_OPS, st.integers(0, 255)), max_size=200))
def test_walker_on_opcode_soup(ops: list[int]) -> None:
    data = bytes([0x80, 0x04, *ops])
    res = walk_pickles(data)
    r = scan_bytes(data)
    if res.malformed or res.pickles == 0:
        assert r.verdict is not ScanVerdict.SAFE


@_SETTINGS
@given(st.binary(max_size=2048))
def test_detector_and_scan_never_crash_and_never_call_a_pickle_head_safe(data: bytes) -> None:
    fmt = detect(data)
    assert isinstance(fmt, str)
    r = scan_bytes(data)
    assert r.verdict in ScanVerdict
    if data[:1] == b"\x80" and fmt in ("pickle", "pytorch-legacy"):
        res = walk_pickles(data)
        if res.pickles == 0:
            assert r.verdict is not ScanVerdict.SAFE


@_SETTINGS
@given(st.binary(max_size=1024))
def test_scan_verdict_safe_only_for_something_understood(data: bytes) -> None:
    r = scan_bytes(data)
    if r.verdict is ScanVerdict.SAFE:
        assert r.files[0].format in {
            "empty", "pickle", "json", "text", "npy", "safetensors", "onnx", "zip", "npz",
            "keras", "pytorch-zip", "pytorch-legacy", "gzip", "bz2", "xz", "tar", "hdf5",
            "joblib",
        } or "+" in r.files[0].format  # fmt: skip


@_SETTINGS
@given(st.binary(max_size=1024))
def test_onnx_parser_raises_only_its_own_error(data: bytes) -> None:
    with contextlib.suppress(OnnxMalformed):
        parse_onnx(data)


@_SETTINGS
@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False)
        | st.text(max_size=8)
        | st.binary(max_size=8),
        lambda kids: (
            st.lists(kids, max_size=4)
            | st.dictionaries(st.text(max_size=4), kids, max_size=4)
            | st.tuples(kids, kids)
        ),
        max_leaves=20,
    ),
    st.integers(0, 5),
)
def test_plain_data_pickles_are_safe_in_every_protocol(obj: object, proto: int) -> None:
    data = pickle.dumps(obj, protocol=proto)
    res = walk_pickles(data)
    assert res.pickles == 1 and not res.issues
    r = scan_bytes(data)  # bytes in protocols 0-2 import _codecs.encode/__builtin__.bytes
    assert r.verdict is ScanVerdict.SAFE, [f.message for f in r.findings]


def _archives() -> list[bytes]:
    import io
    import zipfile

    from tests.integrity.scanning.corpus import _gz, _tar, call_global

    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("m/data.pkl", call_global("os", "system", "x"))
        zf.writestr("m/config.json", b'{"class_name": "Dense"}')
    z = b.getvalue()
    return [z, _tar({"a/data.pkl": pickle.dumps([1, 2])}), _gz(pickle.dumps({"a": 1}))]


_ARCHIVES = _archives()


@_SETTINGS
@given(
    st.sampled_from(range(len(_ARCHIVES))),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=6),
    st.integers(0, 10**6),
)
def test_mutated_archives_never_crash(which: int, edits: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(_ARCHIVES[which])
    for pos, val in edits:
        data[pos % len(data)] = val
    data = data[: max(1, cut % (len(data) + 1))]
    r = scan_bytes(bytes(data))
    assert r.verdict in ScanVerdict
    assert r.files  # every input gets a report
