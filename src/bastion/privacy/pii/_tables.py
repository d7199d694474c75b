"""Column-level classification of tables, and scans of files (tables or text).

A column is classified from two signals: its name (``email``, ``ssn``, ``dob``...) and a
sample of its values, each value analysed with the column name as context. A value
entity must cover most of the value to count as the column's content; a column whose
values merely contain entities (free text) is classified as ``embedded``.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from bastion.core.errors import InputError
from bastion.privacy.pii._analyzer import Analyzer, EntityMatch
from bastion.privacy.pii._io import detect_format, iter_batches, read_schema

__all__ = [
    "NON_PII_ENTITIES",
    "ColumnClassification",
    "FileScan",
    "TableScan",
    "classify_column",
    "file_digest",
    "scan_file",
    "scan_table",
    "scan_text",
]

DEFAULT_SAMPLE = 1000
MAX_SAMPLE = 100_000
MAX_TEXT_ENTITIES = 10_000
VALUE_RATE = 0.6  # share of sampled values that must be the entity (values alone)
HINTED_RATE = 0.2  # ... when the column name agrees
EMBEDDED_RATE = 0.1
MAX_TEXT_BYTES = 64 * 1024 * 1024

# Entities that, found alone in a column's values, do not make it personal data (a
# created_at column is dates); a name hint such as "dob" does.
NON_PII_ENTITIES = frozenset({"DATE_TIME"})

_HINTS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), e)
    for p, e in (
        (r"(^|_)(e_?mail|email_?address|mail)($|_)", "EMAIL_ADDRESS"),
        (r"(^|_)(phone|mobile|tel|telephone|cell|fax|msisdn)($|_)", "PHONE_NUMBER"),
        (r"(^|_)(ssn|social_?security(_?number)?|sin)($|_)", "US_SSN"),
        (r"(^|_)(itin)($|_)", "US_ITIN"),
        (r"(^|_)(card|cc|cc_?num(ber)?|credit_?card|pan|card_?number)($|_)", "CREDIT_CARD"),
        (r"(^|_)(iban)($|_)", "IBAN_CODE"),
        (r"(^|_)(ip|ip_?addr(ess)?|client_?ip|remote_?addr)($|_)", "IP_ADDRESS"),
        (r"(^|_)(dob|birth_?date|date_?of_?birth|birthday|born)($|_)", "DATE_OF_BIRTH"),
        (r"(^|_)(zip|zip_?code|postal_?code|postcode|postal)($|_)", "POSTAL_CODE"),
        (r"(^|_)(passport(_?(no|number))?)($|_)", "US_PASSPORT"),
        (r"(^|_)(account_?(no|number)|acct|bank_?account)($|_)", "US_BANK_NUMBER"),
        (r"(^|_)(nhs(_?number)?)($|_)", "UK_NHS"),
        (r"(^|_)(nino|national_?insurance)($|_)", "UK_NINO"),
        (r"(^|_)(nif|dni|nie)($|_)", "ES_NIF"),
        (r"(^|_)(aadhaar|aadhar)($|_)", "IN_AADHAAR"),
        (r"(^|_)(nric)($|_)", "SG_NRIC_FIN"),
        (r"(^|_)(tfn|tax_?file_?number)($|_)", "AU_TFN"),
        (r"(^|_)(api_?key|secret|token|password|passwd|access_?key)($|_)", "API_KEY"),
        (
            r"^(name|full_?name|first_?name|last_?name|surname|given_?name|family_?name|"
            r"customer_?name|applicant_?name|person|contact_?name)$",
            "PERSON",
        ),
        (r"(^|_)(address|street|street_?address|city|home_?address)($|_)", "LOCATION"),
    )
)
# Value entities that count for a name-hinted entity.
_SAME = {"DATE_OF_BIRTH": "DATE_TIME"}


def _norm(name: str) -> str:
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name.strip())
    return re.sub(r"[^a-z0-9]+", "_", s.lower()).strip("_")


def name_hint(column: str) -> str | None:
    n = _norm(column)
    for pat, entity in _HINTS:
        if pat.search(n):
            return entity
    return None


@dataclass(frozen=True)
class ColumnClassification:
    """What a column holds. ``entity`` None: nothing personal found. ``basis``: ``name``,
    ``values`` or ``name+values``; ``embedded``: values contain entities in free text."""

    column: str
    entity: str | None
    score: float
    match_rate: float
    sampled: int
    basis: str = "none"
    embedded: bool = False
    recognizer: str | None = None
    entity_counts: Mapping[str, int] = field(default_factory=dict)
    note: str | None = None

    @property
    def pii(self) -> bool:
        return self.entity is not None and not (
            self.entity in NON_PII_ENTITIES and "name" not in self.basis
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "entity": self.entity,
            "pii": self.pii,
            "score": round(self.score, 3),
            "match_rate": round(self.match_rate, 3),
            "sampled": self.sampled,
            "basis": self.basis,
            "embedded": self.embedded,
            "recognizer": self.recognizer,
            "entity_counts": dict(sorted(self.entity_counts.items())),
            "note": self.note,
        }


def classify_column(
    column: str, values: Iterable[object], *, analyzer: Analyzer | None = None
) -> ColumnClassification:
    """Classify one column from its name and sampled values (None and "" are skipped)."""
    analyzer = analyzer or _analyzer()
    hint = name_hint(column)
    full: Counter[str] = Counter()
    scores: dict[str, float] = {}
    recs: dict[str, str] = {}
    embedded: Counter[str] = Counter()
    n = 0
    for raw in values:
        if raw is None:
            continue
        text = raw if isinstance(raw, str) else str(raw)
        stripped = text.strip()
        if not stripped:
            continue
        n += 1
        ents = analyzer.analyze(stripped, context=column)
        whole = _whole(ents, len(stripped))
        if whole is not None:
            full[whole.entity_type] += 1
            scores[whole.entity_type] = scores.get(whole.entity_type, 0.0) + whole.score
            recs.setdefault(whole.entity_type, whole.recognizer)
        for t in {e.entity_type for e in ents}:
            embedded[t] += 1
    if n == 0:
        return ColumnClassification(column, None, 0.0, 0.0, 0, note="no values sampled")
    counts = dict(embedded)
    if full:
        entity, hits = full.most_common(1)[0]
        rate = hits / n
        mean = scores[entity] / hits
        agrees = hint is not None and _SAME.get(hint, hint) == entity
        if rate >= VALUE_RATE or (agrees and rate >= HINTED_RATE):
            name = hint if agrees and hint is not None else entity
            return ColumnClassification(
                column,
                name,
                min(1.0, mean * rate + (0.1 if agrees else 0.0)),
                rate,
                n,
                "name+values" if agrees else "values",
                recognizer=recs[entity],
                entity_counts=counts,
            )
    if hint is not None:
        target = _SAME.get(hint, hint)
        rate = full.get(target, 0) / n
        return ColumnClassification(
            column, hint, 0.6, rate, n, "name", entity_counts=counts,
            note=None if rate else "classified by its name; no value matched a recognizer",
        )  # fmt: skip
    if embedded:
        entity, hits = embedded.most_common(1)[0]
        rate = hits / n
        if rate >= EMBEDDED_RATE:
            return ColumnClassification(
                column, entity, 0.5 * rate + 0.3, rate, n, "values", embedded=True,
                entity_counts=counts,
            )  # fmt: skip
    return ColumnClassification(column, None, 0.0, 0.0, n, entity_counts=counts)


def _whole(ents: Sequence[EntityMatch], length: int) -> EntityMatch | None:
    for e in ents:
        if (e.end - e.start) >= 0.8 * length:
            return e
    return None


_ANALYZER: Analyzer | None = None


def _analyzer() -> Analyzer:
    global _ANALYZER
    if _ANALYZER is None:
        _ANALYZER = Analyzer()
    return _ANALYZER


@dataclass(frozen=True)
class TableScan:
    """Per-column classifications of a table (from a sample of its rows)."""

    columns: tuple[ColumnClassification, ...]
    rows_sampled: int
    skipped: Mapping[str, str] = field(default_factory=dict)

    @property
    def pii_columns(self) -> tuple[ColumnClassification, ...]:
        return tuple(c for c in self.columns if c.pii)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows_sampled": self.rows_sampled,
            "columns": [c.to_dict() for c in self.columns],
            "pii_columns": [c.column for c in self.pii_columns],
            "skipped": dict(self.skipped),
        }


_SCANNABLE = (pa.types.is_string, pa.types.is_large_string, pa.types.is_integer,
              pa.types.is_date, pa.types.is_timestamp, pa.types.is_dictionary,
              pa.types.is_floating, pa.types.is_boolean, pa.types.is_decimal,
              pa.types.is_null)  # fmt: skip


def _columns_of(table: object, sample: int) -> tuple[dict[str, list[Any]], dict[str, str], int]:
    skipped: dict[str, str] = {}
    cols: dict[str, list[Any]] = {}
    if isinstance(table, pa.RecordBatch | pa.Table):
        t = table.slice(0, sample)
        for name, col in zip(t.schema.names, t.columns, strict=True):
            if any(f(col.type) for f in _SCANNABLE):
                cols[name] = col.to_pylist()
            else:
                skipped[name] = f"type {col.type} is not scanned"
        return cols, skipped, t.num_rows
    if hasattr(table, "columns") and hasattr(table, "head"):  # a pandas DataFrame
        head = table.head(sample)
        for name in head.columns:
            cols[str(name)] = head[name].tolist()
        return cols, skipped, len(head)
    if isinstance(table, Mapping):
        rows = 0
        for name, values in table.items():
            vals = list(values)[:sample]
            cols[str(name)] = vals
            rows = max(rows, len(vals))
        return cols, skipped, rows
    raise InputError("table: expected a pyarrow Table, a pandas DataFrame or a mapping of columns")


def scan_table(table: object, *, sample: int = DEFAULT_SAMPLE) -> TableScan:
    """Classify every column of ``table`` (pyarrow Table/RecordBatch, pandas DataFrame or
    a mapping of column name to values) from its first ``sample`` rows."""
    if not 1 <= sample <= MAX_SAMPLE:
        raise InputError(f"sample: expected 1-{MAX_SAMPLE} rows")
    cols, skipped, rows = _columns_of(table, sample)
    analyzer = _analyzer()
    return TableScan(
        tuple(classify_column(n, v, analyzer=analyzer) for n, v in cols.items()), rows, skipped
    )


@dataclass(frozen=True)
class FileScan:
    """A scan of one file: a table's column classifications, or a text's entities."""

    name: str
    digest: str
    size: int
    format: str
    table: TableScan | None = None
    entities: tuple[EntityMatch, ...] = ()
    entities_truncated: bool = False

    @property
    def entity_counts(self) -> dict[str, int]:
        if self.table is not None:
            return dict(Counter(c.entity for c in self.table.pii_columns if c.entity))
        return dict(Counter(e.entity_type for e in self.entities))

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name,
            "digest": self.digest,
            "size": self.size,
            "format": self.format,
            "entity_counts": dict(sorted(self.entity_counts.items())),
        }
        if self.table is not None:
            d["table"] = self.table.to_dict()
        else:
            d["entities"] = [e.to_dict() for e in self.entities]
            d["entities_truncated"] = self.entities_truncated
        return d


def file_digest(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    try:
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
                size += len(chunk)
    except OSError as exc:
        raise InputError(f"{path.name}: cannot read ({exc.strerror})") from None
    return "sha256:" + h.hexdigest(), size


def scan_text(text: str) -> list[EntityMatch]:
    return _analyzer().analyze(text)


def scan_file(path: Path, *, sample: int = DEFAULT_SAMPLE, name: str | None = None) -> FileScan:
    """Scan a CSV/TSV or Parquet file (column classification from the first ``sample``
    rows) or a UTF-8 text file (every entity, with offsets). Reads, never executes."""
    if not 1 <= sample <= MAX_SAMPLE:
        raise InputError(f"sample: expected 1-{MAX_SAMPLE} rows")
    if not path.is_file():
        raise InputError(f"{name or path.name}: not a file")
    digest, size = file_digest(path)
    shown = name or path.name
    fmt = detect_format(path)
    if fmt is not None:
        schema = read_schema(path, fmt)
        batches: list[pa.RecordBatch] = []
        got = 0
        for batch in iter_batches(path, fmt, batch_rows=min(sample, 65_536)):
            batches.append(batch)
            got += batch.num_rows
            if got >= sample:
                break
        table = pa.Table.from_batches(batches, schema=batches[0].schema if batches else schema)
        return FileScan(shown, digest, size, fmt.value, scan_table(table, sample=sample))
    if size > MAX_TEXT_BYTES:
        raise InputError(f"{shown}: text files over {MAX_TEXT_BYTES} bytes are not scanned")
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_TEXT_BYTES + 1)
    except OSError as exc:
        raise InputError(f"{shown}: cannot read ({exc.strerror})") from None
    if len(raw) > MAX_TEXT_BYTES:
        raise InputError(f"{shown}: text files over {MAX_TEXT_BYTES} bytes are not scanned")
    digest, size = "sha256:" + hashlib.sha256(raw).hexdigest(), len(raw)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{shown}: neither a CSV/Parquet table nor UTF-8 text") from None
    ents: list[EntityMatch] = []
    truncated = False
    offset = 0
    analyzer = _analyzer()
    for line in text.splitlines(keepends=True):
        for e in analyzer.analyze(line):
            if len(ents) >= MAX_TEXT_ENTITIES:
                truncated = True
                break
            ents.append(
                EntityMatch(e.entity_type, e.start + offset, e.end + offset, e.score, e.recognizer)
            )
        offset += len(line)
    return FileScan(shown, digest, size, "text", entities=tuple(ents), entities_truncated=truncated)
