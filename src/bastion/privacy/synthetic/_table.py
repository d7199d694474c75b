"""Tables from CSV, read with limits: numerical and categorical columns, clear errors.

No pandas: the standard ``csv`` module, size-limited before parsing. A column is numerical
when every non-empty cell is a finite number (unless named categorical); empty cells are
missing. A ragged row, a duplicate or empty header, bad UTF-8 are ``InputError`` naming
the row, never echoing a cell.
"""

from __future__ import annotations

import csv
import enum
import hashlib
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bastion.core.errors import InputError

__all__ = ["Column", "ColumnKind", "Table", "parse_csv", "read_csv"]

MAX_BYTES = 256 * 1024 * 1024
MAX_ROWS = 2_000_000
MAX_COLUMNS = 500
MAX_NAME = 200


class ColumnKind(enum.StrEnum):
    NUMERICAL = "numerical"
    CATEGORICAL = "categorical"


@dataclass(frozen=True, eq=False)
class Column:
    name: str
    kind: ColumnKind
    values: np.ndarray[Any, Any]  # float with NaN (numerical) or object str with "" (categorical)
    integer: bool = False

    def missing(self) -> np.ndarray[Any, Any]:
        if self.kind is ColumnKind.NUMERICAL:
            out: np.ndarray[Any, Any] = np.isnan(self.values)
            return out
        return np.asarray(self.values == "", dtype=bool)

    def cell(self, i: int) -> str:
        v = self.values[i]
        if self.kind is ColumnKind.CATEGORICAL:
            return str(v)
        if math.isnan(v):
            return ""
        return str(int(v)) if self.integer else repr(float(v))


@dataclass(frozen=True, eq=False)
class Table:
    columns: tuple[Column, ...]
    n_rows: int
    source: str = "table"

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise InputError(f"{self.source}: no column named {name[:MAX_NAME]!r}")

    def rows(self) -> Iterable[tuple[str, ...]]:
        for i in range(self.n_rows):
            yield tuple(c.cell(i) for c in self.columns)

    def take(self, idx: np.ndarray[Any, Any]) -> Table:
        cols = tuple(Column(c.name, c.kind, c.values[idx], c.integer) for c in self.columns)
        return Table(cols, len(idx), self.source)

    def to_csv(self) -> bytes:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(self.names)
        w.writerows(self.rows())
        return buf.getvalue().encode()

    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.to_csv()).hexdigest()


def _number(cell: str) -> float | None:
    try:
        f = float(cell)
    except ValueError:
        return None
    return f if math.isfinite(f) else None


def _columns(
    header: Sequence[str], rows: Sequence[Sequence[str]], categorical: Iterable[str], source: str
) -> tuple[Column, ...]:
    cats = set(categorical)
    unknown = cats - set(header)
    if unknown:
        raise InputError(
            f"{source}: categorical column(s) not in the header: "
            + ", ".join(sorted(u[:MAX_NAME] for u in unknown))
        )
    cols: list[Column] = []
    for j, name in enumerate(header):
        cells = [r[j].strip() for r in rows]
        nums = None if name in cats else [_number(c) if c else math.nan for c in cells]
        if nums is not None and all(v is not None for v in nums) and any(cells):
            arr = np.asarray(nums, dtype=float)
            finite = arr[~np.isnan(arr)]
            integer = bool(finite.size and np.all(finite == np.round(finite)))
            cols.append(Column(name, ColumnKind.NUMERICAL, arr, integer))
        else:
            cols.append(Column(name, ColumnKind.CATEGORICAL, np.asarray(cells, dtype=object)))
    return tuple(cols)


def parse_csv(
    data: bytes,
    source: str = "CSV",
    *,
    categorical: Iterable[str] = (),
    max_rows: int = MAX_ROWS,
) -> Table:
    if len(data) > MAX_BYTES:
        raise InputError(f"{source}: larger than {MAX_BYTES} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{source}: not UTF-8 text (byte {exc.start})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise InputError(f"{source}: empty file (no header)") from None
    except csv.Error as exc:
        raise InputError(f"{source}: not CSV ({exc})") from None
    header = [h.strip() for h in header]
    if not header or any(not h for h in header):
        raise InputError(f"{source}: the header has an empty column name")
    if len(header) > MAX_COLUMNS:
        raise InputError(f"{source}: more than {MAX_COLUMNS} columns")
    if any(len(h) > MAX_NAME for h in header):
        raise InputError(f"{source}: a column name is longer than {MAX_NAME} characters")
    if len(set(header)) != len(header):
        raise InputError(f"{source}: duplicate column names in the header")
    rows: list[list[str]] = []
    try:
        for row in reader:
            if not row:
                continue
            if len(row) != len(header):
                raise InputError(
                    f"{source}: row {reader.line_num} has {len(row)} fields, the header has "
                    f"{len(header)} (ragged rows are refused)"
                )
            rows.append(row)
            if len(rows) > max_rows:
                raise InputError(f"{source}: more than {max_rows} rows")
    except csv.Error as exc:
        raise InputError(f"{source}: not CSV at line {reader.line_num} ({exc})") from None
    if not rows:
        raise InputError(f"{source}: no data rows")
    return Table(_columns(header, rows, categorical, source), len(rows), source)


def read_csv(
    path: str | Path, *, categorical: Iterable[str] = (), max_rows: int = MAX_ROWS
) -> tuple[Table, str]:
    """The table and the sha256 digest of the file's bytes."""
    p = Path(path)
    name = p.name[:MAX_NAME]
    try:
        size = p.stat().st_size
        if size > MAX_BYTES:
            raise InputError(f"{name}: larger than {MAX_BYTES} bytes")
        data = p.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{name}: is a directory, not a CSV file") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot read ({exc.strerror})") from None
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    return parse_csv(data, name, categorical=categorical, max_rows=max_rows), digest
