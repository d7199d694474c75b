"""The opcode walker, the policy and the non-pickle formats, on bad input above all."""

from __future__ import annotations

import io
import json
import pickle
import random
import struct
import zipfile
from collections import OrderedDict
from pathlib import Path

import pytest

from bastion.core.errors import InputError
from bastion.integrity import ArchiveLimits, ScanVerdict, load_allowlist, scan_bytes
from bastion.integrity.scanning._pickle import walk_pickles
from tests.integrity.scanning.corpus import _safetensors, call_global, sbu


@pytest.mark.parametrize("proto", range(6))
def test_all_protocols_resolve_globals(proto: int) -> None:
    data = pickle.dumps(OrderedDict(a=1), protocol=proto)
    res = walk_pickles(data)
    assert [g.qualname for g in res.globals] == ["collections.OrderedDict"]
    assert res.pickles == 1 and not res.issues


def test_pickles_back_to_back_and_trailing_data() -> None:
    data = pickle.dumps(1, protocol=2) + call_global("os", "system", "x") + b"\x00raw tail"
    res = walk_pickles(data)
    assert res.pickles == 2
    assert [g.qualname for g in res.globals] == ["os.system"]
    assert res.trailing_bytes == len(b"\x00raw tail")


def test_newobj_ex_and_build_are_modelled() -> None:
    data = b"\x80\x04" + sbu("mod") + sbu("Cls") + b"\x93)}\x92}b."
    res = walk_pickles(data)
    assert [g.qualname for g in res.globals] == ["mod.Cls"] and res.calls == 2
    assert not res.issues


def test_pickle_nesting_a_million_marks_is_walked_without_recursion() -> None:
    """CPython's unpickler has no mark-depth cap (finding 2): neither has the walker.
    Before, over 10,000 marks was an error, and in a protocol 0 file "not a pickle"."""
    data = b"\x80\x02" + b"(" * 1_000_000 + b"t" * 1_000_000 + b"."
    assert pickle.loads(data) is not None  # the real unpickler reads it
    r = scan_bytes(data)
    assert r.verdict is ScanVerdict.SAFE, [f.message for f in r.findings]
    evil = b"(" * 1_000_000 + b"t" * 1_000_000 + b"0" + call_global("os", "system", "x")[2:]
    assert scan_bytes(evil).verdict is ScanVerdict.DANGEROUS


def test_the_walkers_item_budget_is_an_error_never_safe() -> None:
    data = b"(" * 5_000 + b"cos\nsystem\n(S'id'\ntR."
    res = walk_pickles(data, max_items=1_000)
    assert res.limited and res.is_pickle and not res.globals
    assert [i.kind for i in res.issues] == ["limit"]
    ok = walk_pickles(data)
    assert [g.qualname for g in ok.globals] == ["os.system"]


@pytest.mark.parametrize(
    "data",
    [b"\x80\x04", b"\x80\x04\x8c\xff", b"\x80\x02\x93.", b"\x80\x02Jab"],
)
def test_malformed_pickles_are_errors_never_safe(data: bytes) -> None:
    r = scan_bytes(data)
    assert r.verdict is ScanVerdict.ERROR
    assert r.findings[0].rule_id == "pickle.malformed"


def test_random_bytes_never_crash_the_scanner() -> None:
    rng = random.Random(4)
    seeds = [pickle.dumps({"a": [1, 2]}, protocol=p) for p in range(6)]
    seeds.append(call_global("os", "system", "x"))
    for _ in range(3000):
        base = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            base[rng.randrange(len(base))] = rng.randrange(256)
        r = scan_bytes(bytes(base[: rng.randint(1, len(base))]))
        assert r.verdict in ScanVerdict


def test_fast_walk_speed_is_reasonable() -> None:
    data = pickle.dumps([{"id": i, "v": i * 0.5, "s": "x"} for i in range(100_000)], protocol=4)
    res = walk_pickles(data)
    assert res.pickles == 1 and not res.globals and not res.issues


def test_user_allowlist_extends_but_cannot_allow_gadgets(tmp_path: Path) -> None:
    data = call_global("mypkg.layers", "MyLayer", "x")
    assert scan_bytes(data).verdict is ScanVerdict.SUSPICIOUS
    allow = tmp_path / "allow.yaml"
    allow.write_text("globals: [mypkg.layers.MyLayer]\n")
    assert scan_bytes(data, allow=load_allowlist(allow)).verdict is ScanVerdict.SAFE
    for bad in ("globals: [os.system]", "globals: ['mypkg.*']", "globals: 3", "[1"):
        allow.write_text(bad)
        with pytest.raises(InputError, match=r"allow\.yaml"):
            load_allowlist(allow)


def test_safetensors_header_and_offsets_validated() -> None:
    good = _safetensors({"w": ("F32", [2], struct.pack("<2f", 1, 2))})
    assert scan_bytes(good).verdict is ScanVerdict.SAFE
    hl = int.from_bytes(good[:8], "little")
    header = json.loads(good[8 : 8 + hl])
    for mutate in (
        lambda h: h["w"].update(data_offsets=[0, 12]),
        lambda h: h["w"].update(dtype="F99"),
        lambda h: h["w"].update(shape=[3]),
        lambda h: h.update(x={"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}),
    ):
        h = json.loads(json.dumps(header))
        mutate(h)
        hb = json.dumps(h).encode()
        bad = struct.pack("<Q", len(hb)) + hb + good[8 + hl :]
        r = scan_bytes(bad)
        assert r.verdict is ScanVerdict.ERROR, h
        assert r.findings[0].rule_id == "safetensors.malformed"


def test_npy_bad_header_is_error() -> None:
    b = io.BytesIO()
    import numpy as np

    np.save(b, np.ones(4))
    data = b.getvalue()
    assert scan_bytes(data).verdict is ScanVerdict.SAFE
    assert scan_bytes(data[:-8]).verdict is ScanVerdict.ERROR
    assert scan_bytes(data.replace(b"'descr'", b"'dxscr'")).verdict is ScanVerdict.ERROR


def _zip(entries: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", compression=method) as zf:
        for k, v in entries.items():
            zf.writestr(k, v)
    return b.getvalue()


def test_zip_bomb_is_refused_by_ratio_and_total() -> None:
    bomb = _zip({"big.bin": b"\x00" * (64 * 1024**2)})
    r = scan_bytes(bomb)
    assert r.verdict is ScanVerdict.ERROR
    assert any(f.rule_id == "archive.bomb" for f in r.findings)
    small = ArchiveLimits(max_total_bytes=1000, max_ratio=10**9)
    r = scan_bytes(_zip({"a": b"x" * 600, "b": b"y" * 600}), limits=small)
    assert any(f.rule_id == "archive.bomb" for f in r.findings)
    r = scan_bytes(_zip({f"f{i}": b"" for i in range(20)}), limits=ArchiveLimits(max_entries=10))
    assert r.verdict is ScanVerdict.ERROR


def test_nested_archives_stop_at_the_depth_limit() -> None:
    data = b"N."
    for i in range(6):
        data = _zip({f"l{i}": data})
    r = scan_bytes(data)
    assert any(f.rule_id == "archive.too-deep" for f in r.findings)
    assert r.verdict is ScanVerdict.ERROR


def test_archive_path_traversal_is_dangerous() -> None:
    r = scan_bytes(_zip({"../../etc/cron.d/x": b"hello"}))
    assert r.verdict is ScanVerdict.DANGEROUS
    assert r.findings[0].rule_id == "archive.path-traversal"


def test_directory_symlink_is_reported_not_followed(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "w.pkl").write_bytes(pickle.dumps([1, 2]))
    (tmp_path / "m" / "link").symlink_to("/etc/passwd")
    from bastion.integrity import scan_path

    r = scan_path(tmp_path / "m")
    assert {f.rule_id for f in r.findings} == {"file.symlink"}
    assert r.verdict is ScanVerdict.SUSPICIOUS


def test_sarif_has_rules_and_locations(evil: dict[str, bytes]) -> None:
    from bastion.integrity import to_sarif

    doc = to_sarif(scan_bytes(evil["bypass_stack_global_via_memo"], "m.bin"))
    assert doc["version"] == "2.1.0"
    run = doc["runs"][0]
    ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    (res,) = run["results"]
    assert ids[res["ruleIndex"]] == res["ruleId"] == "pickle.dangerous-global"
    loc = res["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "m.bin" and loc["region"]["byteOffset"] > 0
    assert res["properties"]["global"] == "builtins.exec"
