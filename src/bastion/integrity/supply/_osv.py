"""Offline OSV matching: load an OSV database from disk, evaluate PEP 440 ranges, merge aliases.

The database is a directory of OSV JSON records or the per-ecosystem zip that osv.dev
publishes (``PyPI/all.zip``). Every record is size-limited and validated before use; one
malformed record fails the whole load (a vulnerability feed we cannot fully read must not
produce a clean report). Only ``PyPI`` entries are indexed.
"""

from __future__ import annotations

import contextlib
import json
import math
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from bastion.core.errors import InputError
from bastion.core.types import Severity

__all__ = [
    "AffectedPackage",
    "OsvDatabase",
    "OsvRecord",
    "PackageVersion",
    "VulnerabilityMatch",
    "cvss3_base_score",
    "load_osv_database",
    "match_packages",
]

MAX_RECORD_BYTES = 4 * 1024 * 1024
MAX_DATABASE_BYTES = 2 * 1024 * 1024 * 1024
MAX_RECORDS = 1_000_000
MAX_ZIP_RATIO = 200  # uncompressed/compressed per member: far above JSON's, far below a bomb's
_ECOSYSTEM = "PyPI"


@dataclass(frozen=True)
class PackageVersion:
    """One Python distribution to check: a canonical name and the version found (or none)."""

    name: str
    version: str | None
    location: str
    requires: tuple[str, ...] = ()

    @property
    def canonical(self) -> str:
        return canonicalize_name(self.name)


@dataclass(frozen=True)
class _Range:
    events: tuple[
        tuple[str, str], ...
    ]  # (kind, version), kind in introduced/fixed/last_affected/limit


@dataclass(frozen=True)
class AffectedPackage:
    name: str  # canonical
    ranges: tuple[_Range, ...]
    versions: frozenset[str]

    def evaluate(self, version: str) -> bool | None:
        """True/False when decidable; None when the record's versions cannot be compared."""
        try:
            v = Version(version)
        except InvalidVersion:
            return True if version in self.versions else None
        if version in self.versions or str(v) in self.versions:
            return True
        undecided = False
        for r in self.ranges:
            try:
                if _in_range(v, r):
                    return True
            except InvalidVersion:
                undecided = True
        return None if undecided else False


def _in_range(v: Version, r: _Range) -> bool:
    """OSV's ECOSYSTEM evaluation: walk events in version order, toggling affected."""
    limits = [Version(x) for k, x in r.events if k == "limit" and x != "*"]
    if limits and not any(v < lim for lim in limits):
        return False
    ordered = sorted(
        ((Version("0") if x == "0" else Version(x), k) for k, x in r.events if k != "limit"),
        key=lambda e: (e[0], e[1] != "introduced"),
    )
    affected = False
    for ver, kind in ordered:
        if kind == "introduced" and v >= ver:
            affected = True
        elif (kind == "fixed" and v >= ver) or (kind == "last_affected" and v > ver):
            affected = False
    return affected


@dataclass(frozen=True)
class OsvRecord:
    id: str
    aliases: tuple[str, ...]
    summary: str
    modified: datetime
    published: datetime | None
    withdrawn: datetime | None
    severity: Severity | None
    cvss_vector: str | None
    cvss_score: float | None
    affected: tuple[AffectedPackage, ...]
    fixed: tuple[str, ...]
    references: tuple[str, ...]
    source: str

    @property
    def severity_or_default(self) -> Severity:
        # An unscored advisory is treated as high until someone triages it: fail closed.
        return self.severity or Severity.HIGH


@dataclass(frozen=True)
class OsvDatabase:
    """An indexed, validated OSV database and what we know about its freshness."""

    source: str
    records: tuple[OsvRecord, ...]
    by_package: Mapping[str, tuple[OsvRecord, ...]]
    newest_modified: datetime | None
    file_mtime: datetime
    other_ecosystems: int
    withdrawn: int

    def age_days(self, now: datetime | None = None) -> float | None:
        if self.newest_modified is None:
            return None
        now = now or datetime.now(UTC)
        return (now - self.newest_modified).total_seconds() / 86400

    def info(self, now: datetime | None = None) -> dict[str, Any]:
        age = self.age_days(now)
        return {
            "source": self.source,
            "records": len(self.records),
            "withdrawn": self.withdrawn,
            "other_ecosystems": self.other_ecosystems,
            "packages": len(self.by_package),
            "newest_modified": self.newest_modified.isoformat() if self.newest_modified else None,
            "file_mtime": self.file_mtime.isoformat(),
            "age_days": round(age, 1) if age is not None else None,
        }


# --- loading -------------------------------------------------------------------------------


def load_osv_database(
    path: Path | str,
    *,
    max_record_bytes: int = MAX_RECORD_BYTES,
    max_database_bytes: int = MAX_DATABASE_BYTES,
    max_records: int = MAX_RECORDS,
) -> OsvDatabase:
    """Read and validate every record under ``path`` (a directory or an osv.dev zip export)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: OSV database not found; pass --osv-db DIR|ZIP")
    mtime = datetime.fromtimestamp(p.stat().st_mtime, UTC)
    records: list[OsvRecord] = []
    others = withdrawn = 0
    total = 0
    for name, raw in _entries(p, max_record_bytes, max_database_bytes):
        total += 1
        if total > max_records:
            raise InputError(f"{p}: more than {max_records} records; refusing to load")
        rec = _parse_record(raw, f"{p}:{name}" if p.is_file() else name)
        if rec is None:
            others += 1
            continue
        if rec.withdrawn is not None:
            withdrawn += 1
        records.append(rec)
    index: dict[str, list[OsvRecord]] = {}
    for rec in records:
        if rec.withdrawn is not None:
            continue
        for name in {a.name for a in rec.affected}:
            index.setdefault(name, []).append(rec)
    newest = max((r.modified for r in records), default=None)
    return OsvDatabase(
        source=str(p),
        records=tuple(records),
        by_package={k: tuple(v) for k, v in index.items()},
        newest_modified=newest,
        file_mtime=mtime,
        other_ecosystems=others,
        withdrawn=withdrawn,
    )


def _entries(p: Path, max_record: int, max_total: int) -> Iterator[tuple[str, bytes]]:
    total = 0
    if p.is_dir():
        for f in sorted(p.rglob("*.json")):
            if f.is_symlink() or not f.is_file():
                continue
            size = f.stat().st_size
            if size > max_record:
                raise InputError(
                    f"{f}: record of {size} bytes exceeds {max_record}; not an OSV record?"
                )
            total += size
            if total > max_total:
                raise InputError(f"{p}: database exceeds {max_total} bytes")
            yield str(f), f.read_bytes()
        return
    if not zipfile.is_zipfile(p):
        raise InputError(f"{p}: neither a directory of OSV JSON records nor a zip export")
    try:
        with zipfile.ZipFile(p) as zf:
            for info in zf.infolist():
                if info.is_dir() or not info.filename.endswith(".json"):
                    continue
                if info.file_size > max_record:
                    raise InputError(
                        f"{p}: entry {info.filename} of {info.file_size} bytes exceeds {max_record}"
                    )
                if info.compress_size and info.file_size / info.compress_size > MAX_ZIP_RATIO:
                    raise InputError(f"{p}: entry {info.filename} is compressed suspiciously well")
                total += info.file_size
                if total > max_total:
                    raise InputError(f"{p}: database exceeds {max_total} bytes uncompressed")
                with zf.open(info) as fh:
                    data = fh.read(max_record + 1)  # never trust the declared size alone
                if len(data) > max_record:
                    raise InputError(f"{p}: entry {info.filename} exceeds {max_record} bytes")
                yield info.filename, data
    except zipfile.BadZipFile as exc:
        raise InputError(f"{p}: corrupt zip export: {exc}") from None


def _parse_record(raw: bytes, where: str) -> OsvRecord | None:
    """Validate one record; None for a record with no PyPI package (another ecosystem)."""
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{where}: not valid JSON ({exc}); fix or remove the record") from None
    if not isinstance(doc, dict):
        raise InputError(f"{where}: an OSV record must be a JSON object")

    def bad(field_: str, expected: str) -> InputError:
        return InputError(f"{where}: field {field_!r} must be {expected}")

    rid = doc.get("id")
    if not isinstance(rid, str) or not rid or len(rid) > 200:
        raise bad("id", "a non-empty string")
    where = f"{where} ({rid})"
    modified = _time(doc.get("modified"), where, "modified", required=True)
    assert modified is not None
    published = _time(doc.get("published"), where, "published")
    withdrawn = _time(doc.get("withdrawn"), where, "withdrawn")
    aliases = doc.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise bad("aliases", "a list of strings")
    affected_raw = doc.get("affected", [])
    if not isinstance(affected_raw, list):
        raise bad("affected", "a list")
    affected: list[AffectedPackage] = []
    fixed: list[str] = []
    any_package = False
    for i, a in enumerate(affected_raw):
        if not isinstance(a, dict) or not isinstance(a.get("package", {}), dict):
            raise bad(f"affected[{i}]", "an object with a package object")
        pkg = a.get("package", {})
        eco, name = pkg.get("ecosystem"), pkg.get("name")
        if eco is not None and not isinstance(eco, str):
            raise bad(f"affected[{i}].package.ecosystem", "a string")
        any_package = any_package or bool(pkg)
        if eco != _ECOSYSTEM:
            continue
        if not isinstance(name, str) or not name:
            raise bad(f"affected[{i}].package.name", "a non-empty string")
        ranges: list[_Range] = []
        for j, r in enumerate(a.get("ranges", []) or []):
            if not isinstance(r, dict) or not isinstance(r.get("events"), list):
                raise bad(f"affected[{i}].ranges[{j}]", "an object with an events list")
            rtype = r.get("type")
            if rtype not in ("ECOSYSTEM", "SEMVER", "GIT"):
                raise bad(f"affected[{i}].ranges[{j}].type", "ECOSYSTEM, SEMVER or GIT")
            events: list[tuple[str, str]] = []
            for k, e in enumerate(r["events"]):
                if not isinstance(e, dict) or len(e) != 1:
                    raise bad(f"affected[{i}].ranges[{j}].events[{k}]", "an object with one key")
                ((kind, val),) = e.items()
                if kind not in ("introduced", "fixed", "last_affected", "limit"):
                    raise bad(
                        f"affected[{i}].ranges[{j}].events[{k}]",
                        "introduced/fixed/last_affected/limit",
                    )
                if not isinstance(val, str) or not val or len(val) > 200:
                    raise bad(f"affected[{i}].ranges[{j}].events[{k}].{kind}", "a version string")
                events.append((kind, val))
            if rtype == "GIT":
                continue  # commit hashes: not comparable with installed versions
            ranges.append(_Range(tuple(events)))
            fixed.extend(v for k, v in events if k == "fixed")
        versions = a.get("versions", []) or []
        if not isinstance(versions, list) or not all(isinstance(v, str) for v in versions):
            raise bad(f"affected[{i}].versions", "a list of strings")
        affected.append(
            AffectedPackage(canonicalize_name(name), tuple(ranges), frozenset(_norm_all(versions)))
        )
    if not affected:
        if not any_package and affected_raw:
            raise bad("affected", "entries with a package")
        return None
    sev, vector, score = _severity(doc, where)
    refs = [
        r["url"]
        for r in doc.get("references", []) or []
        if isinstance(r, dict) and isinstance(r.get("url"), str)
    ]
    summary = doc.get("summary") or doc.get("details") or ""
    if not isinstance(summary, str):
        raise bad("summary", "a string")
    return OsvRecord(
        id=rid,
        aliases=tuple(aliases),
        summary=" ".join(summary.split())[:300],
        modified=modified,
        published=published,
        withdrawn=withdrawn,
        severity=sev,
        cvss_vector=vector,
        cvss_score=score,
        affected=tuple(affected),
        fixed=tuple(dict.fromkeys(fixed)),
        references=tuple(refs[:20]),
        source=where,
    )


def _norm_all(versions: Iterable[str]) -> Iterator[str]:
    for v in versions:
        yield v
        with contextlib.suppress(InvalidVersion):
            yield str(Version(v))


def _time(value: object, where: str, name: str, *, required: bool = False) -> datetime | None:
    if value is None:
        if required:
            raise InputError(f"{where}: field {name!r} is required (RFC 3339 time)")
        return None
    if not isinstance(value, str):
        raise InputError(f"{where}: field {name!r} must be an RFC 3339 time string")
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"{where}: field {name!r} is not an RFC 3339 time: {value[:40]!r}"
        ) from None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


_GH_SEVERITY = {
    "LOW": Severity.LOW,
    "MODERATE": Severity.MEDIUM,
    "MEDIUM": Severity.MEDIUM,
    "HIGH": Severity.HIGH,
    "CRITICAL": Severity.CRITICAL,
}


def _severity(
    doc: Mapping[str, Any], where: str
) -> tuple[Severity | None, str | None, float | None]:
    vector = score = None
    for s in doc.get("severity", []) or []:
        if not isinstance(s, dict):
            raise InputError(f"{where}: field 'severity' must be a list of objects")
        if s.get("type") == "CVSS_V3" and isinstance(s.get("score"), str):
            vector = s["score"]
            try:
                score = cvss3_base_score(vector)
            except ValueError as exc:
                raise InputError(f"{where}: bad CVSS vector: {exc}") from None
    db = doc.get("database_specific")
    label = db.get("severity") if isinstance(db, dict) else None
    if isinstance(label, str) and label.upper() in _GH_SEVERITY:
        return _GH_SEVERITY[label.upper()], vector, score
    if score is not None:
        return _score_severity(score), vector, score
    return None, vector, score


def _score_severity(score: float) -> Severity:
    if score >= 9.0:
        return Severity.CRITICAL
    if score >= 7.0:
        return Severity.HIGH
    if score >= 4.0:
        return Severity.MEDIUM
    if score > 0:
        return Severity.LOW
    return Severity.INFO


# --- CVSS 3.x base score (FIRST specification, section 7.1 and appendix A) ------------------

_W: dict[str, dict[str, float]] = {
    "AV": {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2},
    "AC": {"L": 0.77, "H": 0.44},
    "UI": {"N": 0.85, "R": 0.62},
    "C": {"H": 0.56, "L": 0.22, "N": 0.0},
    "I": {"H": 0.56, "L": 0.22, "N": 0.0},
    "A": {"H": 0.56, "L": 0.22, "N": 0.0},
}
_PR = {"U": {"N": 0.85, "L": 0.62, "H": 0.27}, "C": {"N": 0.85, "L": 0.68, "H": 0.5}}


def _roundup(x: float) -> float:
    """CVSS 3.1 Roundup: the smallest one-decimal number >= x, free of float noise."""
    i = round(x * 100000)
    return i / 100000.0 if i % 10000 == 0 else (math.floor(i / 10000) + 1) / 10.0


def cvss3_base_score(vector: str) -> float:
    """The CVSS 3.0/3.1 base score of a vector string (``CVSS:3.1/AV:N/...``)."""
    parts = vector.strip().split("/")
    if not parts or parts[0] not in ("CVSS:3.0", "CVSS:3.1"):
        raise ValueError(f"{vector[:60]!r} is not a CVSS 3.x vector")
    m: dict[str, str] = {}
    for p in parts[1:]:
        k, sep, v = p.partition(":")
        if not sep or k in m:
            raise ValueError(f"bad or repeated metric {p!r}")
        m[k] = v
    try:
        scope = m["S"]
        av, ac, ui = _W["AV"][m["AV"]], _W["AC"][m["AC"]], _W["UI"][m["UI"]]
        pr = _PR[scope][m["PR"]]
        c, i, a = _W["C"][m["C"]], _W["I"][m["I"]], _W["A"][m["A"]]
    except KeyError as exc:
        raise ValueError(f"missing or invalid base metric {exc.args[0]!r}") from None
    iss = 1 - (1 - c) * (1 - i) * (1 - a)
    changed = 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15
    impact = 6.42 * iss if scope == "U" else changed
    exploitability = 8.22 * av * ac * pr * ui
    if impact <= 0:
        return 0.0
    if scope == "U":
        return _roundup(min(impact + exploitability, 10))
    return _roundup(min(1.08 * (impact + exploitability), 10))


# --- matching ------------------------------------------------------------------------------


@dataclass(frozen=True)
class VulnerabilityMatch:
    """One issue affecting one package, its aliases merged across databases."""

    package: str
    version: str
    location: str
    id: str
    aliases: tuple[str, ...]
    summary: str
    severity: Severity
    cvss_score: float | None
    fixed_in: tuple[str, ...]
    references: tuple[str, ...]
    uncertain: bool = False
    records: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "package": self.package,
            "version": self.version,
            "location": self.location,
            "id": self.id,
            "aliases": list(self.aliases),
            "summary": self.summary,
            "severity": self.severity.value,
            "cvss_score": self.cvss_score,
            "fixed_in": list(self.fixed_in),
            "references": list(self.references),
            "uncertain": self.uncertain,
        }


def _id_rank(i: str) -> tuple[int, str]:
    # Prefer the reviewed GHSA, then PYSEC, then CVE, for the reported id.
    order = ("GHSA-", "PYSEC-", "CVE-")
    return next((n for n, p in enumerate(order) if i.startswith(p)), len(order)), i


def match_packages(db: OsvDatabase, packages: Sequence[PackageVersion]) -> list[VulnerabilityMatch]:
    """Every advisory affecting a pinned package, one entry per issue (aliases merged)."""
    out: list[VulnerabilityMatch] = []
    for pkg in packages:
        if pkg.version is None:
            continue
        hits: list[tuple[OsvRecord, bool]] = []
        for rec in db.by_package.get(pkg.canonical, ()):
            verdicts = [a.evaluate(pkg.version) for a in rec.affected if a.name == pkg.canonical]
            if any(v is True for v in verdicts):
                hits.append((rec, False))
            elif any(v is None for v in verdicts):
                hits.append((rec, True))  # cannot compare: report, fail closed
        out.extend(_merge(pkg, hits))
    out.sort(key=lambda m: (-m.severity.rank, m.package, m.id))
    return out


def _merge(pkg: PackageVersion, hits: list[tuple[OsvRecord, bool]]) -> list[VulnerabilityMatch]:
    # Union-find over ids and aliases: a GHSA and a PYSEC naming each other are one issue.
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for rec, _ in hits:
        for a in rec.aliases:
            parent[find(a)] = find(rec.id)
        find(rec.id)
    groups: dict[str, list[tuple[OsvRecord, bool]]] = {}
    for rec, unc in hits:
        groups.setdefault(find(rec.id), []).append((rec, unc))
    result = []
    for members in groups.values():
        recs = [r for r, _ in members]
        ids = {r.id for r in recs} | {a for r in recs for a in r.aliases}
        primary = min((r.id for r in recs), key=_id_rank)
        scored = [r for r in recs if r.severity is not None]
        severity = max(
            (r.severity_or_default for r in scored) if scored else (Severity.HIGH,),
            key=lambda s: s.rank,
        )
        scores = [r.cvss_score for r in recs if r.cvss_score is not None]
        summary = next(
            (r.summary for r in sorted(recs, key=lambda r: _id_rank(r.id)) if r.summary), ""
        )
        result.append(
            VulnerabilityMatch(
                package=pkg.name,
                version=pkg.version or "",
                location=pkg.location,
                id=primary,
                aliases=tuple(sorted(ids - {primary}, key=_id_rank)),
                summary=summary,
                severity=severity,
                cvss_score=max(scores) if scores else None,
                fixed_in=tuple(sorted({f for r in recs for f in r.fixed}, key=_version_key)),
                references=tuple(dict.fromkeys(u for r in recs for u in r.references))[:10],
                uncertain=all(u for _, u in members),
                records=tuple(sorted(r.id for r in recs)),
            )
        )
    return result


def _version_key(v: str) -> tuple[int, Version | str]:
    try:
        return 0, Version(v)
    except InvalidVersion:
        return 1, v
