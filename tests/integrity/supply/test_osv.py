"""Offline OSV matching: loading and validating records, PEP 440 ranges, aliases, CVSS."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bastion.core.errors import InputError
from bastion.core.types import Severity
from bastion.integrity import (
    PackageVersion,
    cvss3_base_score,
    load_osv_database,
    match_packages,
)
from tests.integrity.supply.conftest import OSV_DIR, osv_record


def _pkg(name: str, version: str | None) -> PackageVersion:
    return PackageVersion(name, version, "test")


def _write(d: Path, doc: dict[str, Any], name: str | None = None) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    p = d / (name or f"{doc['id']}.json")
    p.write_text(json.dumps(doc), encoding="utf-8")
    return p


def _synthetic(rid: str, events: list[dict[str, str]], **extra: Any) -> dict[str, Any]:
    return {
        "id": rid,
        "modified": "2025-01-01T00:00:00Z",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "demo-pkg"},
                "ranges": [{"type": "ECOSYSTEM", "events": events}],
                **extra,
            }
        ],
    }


@pytest.mark.parametrize(
    ("vector", "score"),
    [
        ("CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:C/C:H/I:N/A:N", 6.1),  # CVE-2023-32681, NVD 6.1
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:L/I:L/A:N", 5.4),  # CVE-2024-22195, NVD 5.4
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0),
        ("CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N", 5.5),
        ("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:N/I:N/A:N", 0.0),
        ("CVSS:3.1/AV:A/AC:L/PR:L/UI:N/S:C/C:L/I:L/A:N", 5.4),  # 1.08 * (2.7268 + 2.2682)
    ],
)
def test_cvss3_base_score_matches_the_specification(vector: str, score: float) -> None:
    assert cvss3_base_score(vector) == score


@pytest.mark.parametrize(
    "vector",
    [
        "CVSS:2.0/AV:N",
        "AV:N/AC:L",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H",
        "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "CVSS:3.1/AV:N/AV:N",
    ],
)
def test_bad_cvss_vectors_are_refused(vector: str) -> None:
    with pytest.raises(ValueError):
        cvss3_base_score(vector)


def test_bundled_database_loads_real_records() -> None:
    db = load_osv_database(OSV_DIR)
    ids = {r.id for r in db.records}
    assert ids == {
        "GHSA-j8r2-6x86-q33q",
        "GHSA-h5c8-rqwp-cp95",
        "PYSEC-2023-74",
        "PYSEC-2022-43015",
        "PYSEC-2023-28",
        "PYSEC-2021-854",
        "PYSEC-2023-227",
    }
    assert db.newest_modified == datetime(2024, 1, 11, 15, 20, 48, tzinfo=UTC)
    info = db.info(now=datetime(2024, 1, 21, 15, 20, 48, tzinfo=UTC))
    assert info["age_days"] == 10.0 and info["records"] == 7
    assert (OSV_DIR / "NOTICE").read_text().count("CC-BY 4.0") >= 2


def test_aliases_are_merged_into_one_issue_naming_both() -> None:
    db = load_osv_database(OSV_DIR)
    [m] = match_packages(db, [_pkg("Requests", "2.30.0")])
    assert m.id == "GHSA-j8r2-6x86-q33q"
    assert set(m.aliases) == {"PYSEC-2023-74", "CVE-2023-32681"}
    assert m.records == ("GHSA-j8r2-6x86-q33q", "PYSEC-2023-74")
    # GitHub's reviewed label wins over the unscored PYSEC record; the vector gives the score
    assert m.severity is Severity.MEDIUM and m.cvss_score == 6.1
    assert m.fixed_in == ("2.31.0",)


@pytest.mark.parametrize(
    ("name", "version", "expected"),
    [
        ("requests", "2.2.1", set()),  # before introduced 2.3.0
        ("requests", "2.3.0", {"GHSA-j8r2-6x86-q33q"}),
        ("requests", "2.31.0", set()),  # the fixed version
        ("requests", "2.31.0rc1", {"GHSA-j8r2-6x86-q33q"}),  # a pre-release sorts before 2.31.0
        ("Jinja2", "3.1.2", {"GHSA-h5c8-rqwp-cp95"}),  # introduced "0"
        ("jinja2", "3.1.3", set()),
        ("torch", "1.13.0", {"PYSEC-2022-43015"}),
        ("torch", "2.13.0", set()),
        ("PILLOW", "9.5.0", {"PYSEC-2023-227"}),  # PEP 503 canonical names
        ("mlflow", "2.2.1", {"PYSEC-2023-28"}),
        ("numpy", "1.9.3", {"PYSEC-2021-854"}),
        ("numpy", "1.10.0", set()),
        ("numpy", None, set()),  # unpinned: nothing to compare
    ],
)
def test_ranges_of_real_records(name: str, version: str | None, expected: set[str]) -> None:
    db = load_osv_database(OSV_DIR)
    assert {m.id for m in match_packages(db, [_pkg(name, version)])} == expected


def test_last_affected_limit_and_versions(tmp_path: Path) -> None:
    d = tmp_path / "db"
    _write(d, _synthetic("TEST-LA", [{"introduced": "1.0"}, {"last_affected": "1.4.2"}]))
    _write(d, _synthetic("TEST-LIM", [{"introduced": "0"}, {"limit": "0.5"}]))
    _write(
        d,
        _synthetic(
            "TEST-MULTI",
            [{"introduced": "2.0"}, {"fixed": "2.1"}, {"introduced": "3.0"}, {"fixed": "3.0.5"}],
        ),
    )
    _write(d, _synthetic("TEST-LIST", [], versions=["7.0.post1"]))
    db = load_osv_database(d)

    def hit(v: str) -> set[str]:
        return {m.id for m in match_packages(db, [_pkg("Demo_Pkg", v)])}

    assert hit("1.4.2") == {"TEST-LA"} and hit("1.4.3") == set() and hit("0.4") == {"TEST-LIM"}
    assert hit("0.5") == set() and hit("2.0.9") == {"TEST-MULTI"} and hit("2.5") == set()
    assert hit("3.0.4") == {"TEST-MULTI"} and hit("3.0.5") == set()
    assert hit("7.0.post1") == {"TEST-LIST"} and hit("7.0") == set()


def test_unparsable_range_versions_are_reported_not_dropped(tmp_path: Path) -> None:
    d = tmp_path / "db"
    _write(d, _synthetic("TEST-ODD", [{"introduced": "0"}, {"fixed": "not-a-version"}]))
    [m] = match_packages(load_osv_database(d), [_pkg("demo-pkg", "1.0")])
    assert m.uncertain and m.severity is Severity.HIGH  # unscored: fail closed


def test_withdrawn_records_are_honoured(osv_copy: Path) -> None:
    doc = osv_record("GHSA-h5c8-rqwp-cp95") | {"withdrawn": "2024-02-01T00:00:00Z"}
    _write(osv_copy, doc)
    db = load_osv_database(osv_copy)
    assert db.withdrawn == 1
    assert match_packages(db, [_pkg("jinja2", "3.1.2")]) == []


def test_other_ecosystems_are_counted_and_ignored(tmp_path: Path) -> None:
    doc = _synthetic("TEST-NPM", [{"introduced": "0"}])
    doc["affected"][0]["package"]["ecosystem"] = "npm"
    _write(tmp_path / "db", doc)
    db = load_osv_database(tmp_path / "db")
    assert db.other_ecosystems == 1 and db.records == ()


def test_zip_export_is_read(tmp_path: Path) -> None:
    z = tmp_path / "all.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(OSV_DIR.glob("*.json")):
            zf.write(p, p.name)
    db = load_osv_database(z)
    assert len(db.records) == 7
    assert [m.id for m in match_packages(db, [_pkg("requests", "2.28.0")])] == [
        "GHSA-j8r2-6x86-q33q"
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"id": "X-1"}', "'modified' is required"),
        (b'{"id": "X-1", "modified": "yesterday"}', "not an RFC 3339 time"),
        (
            b'{"id": "X-1", "modified": "2024-01-01T00:00:00Z", "affected": {}}',
            "'affected' must be a list",
        ),
        (
            b'{"id": "X-1", "modified": "2024-01-01T00:00:00Z", "affected": [{"package": {"ecosystem": "PyPI", "name": "a"}, "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0", "fixed": "1"}]}]}]}',
            "one key",
        ),
        (
            b'{"id": "X-1", "modified": "2024-01-01T00:00:00Z", "affected": [{"package": {"ecosystem": "PyPI", "name": "a"}, "ranges": [{"type": "SEMVER2", "events": []}]}]}',
            "ECOSYSTEM, SEMVER or GIT",
        ),
        (
            b'{"id": "X-1", "modified": "2024-01-01T00:00:00Z", "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:Q"}], "affected": [{"package": {"ecosystem": "PyPI", "name": "a"}}]}',
            "bad CVSS vector",
        ),
        (b'{"id": 5, "modified": "2024-01-01T00:00:00Z"}', "'id' must be"),
    ],
)
def test_malformed_records_fail_the_load_naming_the_file(
    osv_copy: Path, content: bytes, message: str
) -> None:
    (osv_copy / "BROKEN.json").write_bytes(content)
    with pytest.raises(InputError) as exc:
        load_osv_database(osv_copy)
    assert message in exc.value.message and "BROKEN.json" in exc.value.message


def test_huge_record_is_refused_before_reading(osv_copy: Path) -> None:
    (osv_copy / "HUGE.json").write_bytes(b" " * (4 * 1024 * 1024 + 1))
    with pytest.raises(InputError, match=r"HUGE\.json: record of 4194305 bytes exceeds 4194304"):
        load_osv_database(osv_copy)


def test_zip_bomb_and_corrupt_zip_are_refused(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("A.json", b" " * 3_000_000)
    with pytest.raises(InputError, match="compressed suspiciously well"):
        load_osv_database(bomb)
    bad = tmp_path / "bad.zip"
    bad.write_bytes(zipfile.ZipFile.__doc__.encode() if zipfile.ZipFile.__doc__ else b"x")
    with pytest.raises(InputError, match="neither a directory"):
        load_osv_database(bad)
    with pytest.raises(InputError, match="not found"):
        load_osv_database(tmp_path / "missing")
