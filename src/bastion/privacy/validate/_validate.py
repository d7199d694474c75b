"""Validate a training batch: the constraint file's pandera schema, then distribution
limits against a reference (the monitor room's PSI / KS / chi-square, label balance,
near-duplicate rows). The report names columns, checks and row numbers, never values."""

from __future__ import annotations

import csv
import hashlib
import io
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bastion.core.checks import record_evidence
from bastion.core.errors import InputError
from bastion.core.types import Evidence, Finding, Severity, Subject, Verdict
from bastion.core.workspace import Workspace
from bastion.privacy.validate._checks import DataValidationCheck, DataValidationData
from bastion.privacy.validate._constraints import Constraints, load_constraints, to_pandera

__all__ = ["Frame", "ValidationReport", "read_frame", "validate_file", "validate_frame"]

MAX_BYTES = 256 * 1024 * 1024
MAX_ROWS = 2_000_000
MAX_COLUMNS = 1000
MAX_ROWS_NAMED = 10
_TRUE = frozenset({"true", "1", "yes", "y", "t"})
_FALSE = frozenset({"false", "0", "no", "n", "f"})


@dataclass(frozen=True)
class Frame:
    """A table as text cells (None for empty), the way it was read, and its digest."""

    name: str
    columns: dict[str, list[str | None]]
    rows: int
    digest: str


def _read_bytes(path: Path) -> bytes:
    try:
        st = path.lstat()
    except OSError:
        raise InputError(f"{path.name}: no such data file") from None
    if path.is_symlink() or not path.is_file():
        raise InputError(f"{path.name}: expected a regular file (not a link or folder)")
    if st.st_size > MAX_BYTES:
        raise InputError(f"{path.name}: larger than {MAX_BYTES >> 20} MiB")
    return path.read_bytes()


def _csv(raw: bytes, name: str) -> tuple[dict[str, list[str | None]], int]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{name}: not UTF-8 text") from None
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader, None)
        if not header:
            raise InputError(f"{name}: no header row")
        if len(header) > MAX_COLUMNS:
            raise InputError(f"{name}: more than {MAX_COLUMNS} columns")
        if len(set(header)) != len(header) or any(not h.strip() for h in header):
            raise InputError(f"{name}: the header has an empty or repeated column name")
        cols: list[list[str | None]] = [[] for _ in header]
        n = 0
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(header):
                raise InputError(
                    f"{name}: line {line} has {len(row)} fields, not {len(header)} (ragged row)"
                )
            n += 1
            if n > MAX_ROWS:
                raise InputError(f"{name}: more than {MAX_ROWS} rows")
            for c, v in zip(cols, row, strict=True):
                c.append(v if v != "" else None)
    except csv.Error as exc:
        raise InputError(f"{name}: not valid CSV ({exc})") from None
    return dict(zip(header, cols, strict=True)), n


def _parquet(raw: bytes, name: str) -> tuple[dict[str, list[str | None]], int]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(pa.BufferReader(raw))
    except (pa.ArrowException, OSError):
        raise InputError(f"{name}: not a readable Parquet file") from None
    if table.num_rows > MAX_ROWS or table.num_columns > MAX_COLUMNS:
        raise InputError(f"{name}: more than {MAX_ROWS} rows or {MAX_COLUMNS} columns")
    cols: dict[str, list[str | None]] = {}
    for f, col in zip(table.schema, table.columns, strict=True):
        t = f.type
        if not (
            pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)
            or pa.types.is_string(t) or pa.types.is_large_string(t)
        ):  # fmt: skip
            raise InputError(
                f"{name}: column {f.name[:80]!r} has type {t}, which is not validated "
                "(numbers, booleans and strings are)"
            )
        vals = col.to_pylist()
        cols[f.name] = [
            None if v is None or (isinstance(v, float) and math.isnan(v)) else
            ("true" if v else "false") if isinstance(v, bool) else str(v)
            for v in vals
        ]  # fmt: skip
    return cols, table.num_rows


def read_frame(path: Path) -> Frame:
    """A CSV/TSV (strict: ragged rows refused) or Parquet file as text cells."""
    raw = _read_bytes(path)
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    if raw[:4] == b"PAR1":
        cols, n = _parquet(raw, path.name)
    else:
        cols, n = _csv(raw, path.name)
    return Frame(path.name[:200], cols, n, digest)


@dataclass(frozen=True)
class ValidationReport:
    data: DataValidationData
    evidence: Evidence | None = field(default=None)

    @property
    def verdict(self) -> Verdict:
        return Verdict.PASS if self.data.passed else Verdict.FAIL

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = self.data.model_dump(mode="json")
        d["verdict"] = self.verdict.value
        if self.evidence is not None:
            d["evidence_id"] = self.evidence.id
            d["ledger_seq"] = self.evidence.ledger_seq
        return d


def _numbers(values: list[str | None]) -> tuple[np.ndarray[Any, Any], list[int]]:
    out = np.full(len(values), np.nan)
    bad: list[int] = []
    for i, v in enumerate(values):
        if v is None:
            continue
        try:
            x = float(v)
        except ValueError:
            bad.append(i)
            continue
        if math.isfinite(x):
            out[i] = x
        else:
            bad.append(i)
    return out, bad


def _typed(
    c: Constraints, f: Frame
) -> tuple[Any, list[dict[str, Any]], dict[str | None, set[int]]]:
    """The DataFrame pandera validates (declared numbers and booleans parsed; a cell that
    does not parse is a type failure of its column) and those failures."""
    import pandas as pd  # type: ignore[import-untyped]

    data: dict[str, Any] = {}
    fails: list[dict[str, Any]] = []
    unparsed: dict[str | None, set[int]] = {}
    for name, values in f.columns.items():
        rule = c.columns.get(name)
        kind = rule.type if rule is not None else None
        if kind in ("int", "float"):
            arr, bad = _numbers(values)
            data[name] = pd.Series(arr, dtype="float64")
        elif kind == "bool":
            low = [None if v is None else v.strip().lower() for v in values]
            bad = [i for i, v in enumerate(low) if v is not None and v not in _TRUE | _FALSE]
            data[name] = pd.Series(
                [None if v is None or v not in _TRUE | _FALSE else v in _TRUE for v in low],
                dtype="boolean",
            )
        else:
            bad = []
            data[name] = pd.Series(values, dtype=object)
        if bad:
            fails.append(_failure(name, f"type({kind})", bad))
            unparsed[name] = set(bad)
    return pd.DataFrame(data), fails, unparsed


def _failure(column: str | None, check: str, rows: list[int]) -> dict[str, Any]:
    return {
        "column": column,
        "check": check[:200],
        "count": len(rows),
        "rows": sorted(rows)[:MAX_ROWS_NAMED],
    }


def _schema_failures(c: Constraints, f: Frame) -> list[dict[str, Any]]:
    import pandera.pandas as pa

    df, fails, typed = _typed(c, f)
    try:
        to_pandera(c).validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        fc = exc.failure_cases
        groups: dict[tuple[str | None, str], list[int]] = {}
        for col, check, idx, case in zip(
            fc["column"], fc["check"], fc["index"], fc["failure_case"], strict=True
        ):
            colname = (
                None if col is None or (isinstance(col, float) and math.isnan(col)) else str(col)
            )
            if check == "column_in_schema":  # the failure case is the column's name
                colname, check = str(case), "column_in_schema"
            key = (colname, str(check))
            rows = groups.setdefault(key, [])
            if idx is not None and not (isinstance(idx, float) and math.isnan(idx)):
                rows.append(int(idx))
        for (col, check), found in groups.items():
            # A cell that did not parse is named once, as a type failure of its column.
            if check.startswith("dtype(") and col in typed:
                continue
            rows = [r for r in found if r not in typed.get(col, set())]
            if found and not rows:
                continue
            fails.append(_failure(col, check, rows) | ({} if rows else {"count": 1}))
    if c.min_rows is not None and f.rows < c.min_rows:
        fails.append(_failure(None, f"min_rows({c.min_rows})", []) | {"count": 1})
    if c.max_rows is not None and f.rows > c.max_rows:
        fails.append(_failure(None, f"max_rows({c.max_rows})", []) | {"count": 1})
    return fails


def _is_numeric(c: Constraints, name: str) -> bool:
    rule = c.columns[name]
    d = c.distribution
    return rule.type in ("int", "float") and not (d and name in d.categorical)


def _column(c: Constraints, f: Frame, name: str) -> Any:
    if name not in f.columns:
        raise InputError(f"{f.name}: no column {name[:80]!r} for the distribution checks")
    vals = f.columns[name]
    if _is_numeric(c, name):
        return _numbers(vals)[0]
    return [None if v is None else v.strip() for v in vals]


def _near_duplicate_rate(c: Constraints, f: Frame) -> float:
    assert c.distribution is not None
    assert c.distribution.near_duplicates is not None
    nd = c.distribution.near_duplicates
    names = list(nd.columns or c.columns)
    keys: list[tuple[Any, ...]] = []
    cols = [(_is_numeric(c, n), f.columns.get(n)) for n in names]
    for i in range(f.rows):
        key: list[Any] = []
        for numeric, vals in cols:
            v = None if vals is None else vals[i]
            if numeric and v is not None:
                try:
                    key.append(round(float(v), nd.decimals))
                    continue
                except ValueError:
                    pass
            key.append(None if v is None else v.strip().casefold())
        keys.append(tuple(key))
    counts = Counter(keys)
    extra = sum(n - 1 for n in counts.values() if n > 1)
    return extra / f.rows if f.rows else 0.0


def _shares(values: list[str | None]) -> dict[str, float]:
    cnt = Counter(v.strip() for v in values if v is not None)
    total = sum(cnt.values())
    return {k: v / total for k, v in sorted(cnt.items())} if total else {}


def validate_frame(
    c: Constraints, constraints_digest: str, f: Frame, reference: Frame | None = None
) -> tuple[DataValidationData, tuple[Finding, ...]]:
    """The validation data and findings of ``f`` (no recording)."""
    from bastion.monitor import ReferenceProfile

    fails = _schema_failures(c, f)
    findings = [
        Finding(
            rule_id="data.validation.schema",
            title=f"{x['check']} fails" + (f" on {x['column']}" if x["column"] else ""),
            severity=Severity.HIGH,
            message=(
                f"{x['count']} row(s) fail {x['check']}"
                + (f" in column {x['column']!r}" if x["column"] else "")
                + (f" (data rows {', '.join(str(r) for r in x['rows'])})" if x["rows"] else "")
            ),
            location=f"{f.name}#{x['column']}" if x["column"] else f.name,
        )
        for x in fails
    ]
    d = c.distribution
    dist: list[dict[str, object]] = []
    drifted: list[str] = []
    label_shift: float | None = None
    dup_rate: float | None = None
    if d is not None:
        if reference is None:
            raise InputError("the constraints have distribution rules: give a reference dataset")
        names = [
            n for n in (d.columns or tuple(c.columns)) if n != d.label and n in reference.columns
        ]
        if names:
            prof = ReferenceProfile.build(
                {n: _column(c, reference, n) for n in names},
                categorical=[n for n in names if not _is_numeric(c, n)],
                alpha=d.alpha,
                psi_threshold=d.psi_max,
            )
            rep = prof.compare({n: _column(c, f, n) for n in names})
            for fd in rep.features:
                dist.append({"column": fd.name, "test": fd.test, "psi": fd.psi,
                             "statistic": fd.statistic, "p_adjusted": fd.p_adjusted,
                             "drifted": fd.drifted})  # fmt: skip
                if fd.drifted:
                    drifted.append(fd.name)
                    findings.append(
                        Finding(
                            rule_id="data.validation.drift",
                            title=f"{fd.name} drifted from the reference",
                            severity=Severity.HIGH,
                            message=(
                                f"PSI {fd.psi:.3f} (limit {d.psi_max:g}), {fd.test} adjusted "
                                f"p {fd.p_adjusted:.2g} (alpha {d.alpha:g})"
                            ),
                            location=f"{f.name}#{fd.name}",
                        )
                    )
        if d.label is not None:
            if d.label not in f.columns or d.label not in reference.columns:
                raise InputError(f"label column {d.label[:80]!r} is missing from the data")
            cur, ref = _shares(f.columns[d.label]), _shares(reference.columns[d.label])
            label_shift = max(abs(cur.get(k, 0.0) - ref.get(k, 0.0)) for k in set(cur) | set(ref))
            if label_shift > d.label_shift_max:
                findings.append(
                    Finding(
                        rule_id="data.validation.label_balance",
                        title="Label balance shifted",
                        severity=Severity.HIGH,
                        message=(
                            f"a class share moved by {label_shift:.1%} from the reference "
                            f"(limit {d.label_shift_max:.1%}): label flipping or a skewed batch"
                        ),
                        location=f"{f.name}#{d.label}",
                    )
                )
        if d.near_duplicates is not None:
            dup_rate = _near_duplicate_rate(c, f)
            if dup_rate > d.near_duplicates.max_rate:
                findings.append(
                    Finding(
                        rule_id="data.validation.near_duplicates",
                        title="Near-duplicate rows",
                        severity=Severity.HIGH,
                        message=(
                            f"{dup_rate:.1%} of rows repeat another row after rounding to "
                            f"{d.near_duplicates.decimals} decimals (limit "
                            f"{d.near_duplicates.max_rate:.1%}): injected copies?"
                        ),
                        location=f.name,
                    )
                )
    data = DataValidationData(
        data_digest=f.digest,
        constraints_digest=constraints_digest,
        reference_digest=reference.digest if reference is not None else None,
        rows=f.rows,
        columns=len(f.columns),
        schema_ok=not fails,
        schema_failures=tuple(fails),
        drifted=tuple(drifted),
        distribution=tuple(dist),
        label_shift=label_shift,
        near_duplicate_rate=dup_rate,
        passed=not findings,
    )
    return data, tuple(findings)


def validate_file(
    ws: Workspace | None,
    data: Path,
    constraints: Path,
    *,
    reference: Path | None = None,
    ref: str | None = None,
    actor: str = "cli",
) -> ValidationReport:
    """Validate ``data`` against the constraint file (and ``reference`` for the
    distribution rules); with ``ws``, record ``data.validation`` evidence about the data's
    digest (fail on any violation)."""
    c, cdigest = load_constraints(constraints)
    frame = read_frame(data)
    refframe = read_frame(reference) if reference is not None else None
    vd, findings = validate_frame(c, cdigest, frame, refframe)
    rep = ValidationReport(vd)
    if ws is None:
        return rep
    ev = record_evidence(
        ws,
        DataValidationCheck,
        Subject("dataset", (ref or frame.name)[:200], frame.digest),
        verdict=rep.verdict,
        data=vd,
        findings=findings,
        actor=actor,
    )
    return ValidationReport(vd, ev)
