"""Reading tables a batch at a time (CSV and Parquet through pyarrow), bounded memory.

CSV columns are read as strings, exactly as written (a ZIP code keeps its leading zero,
an ID is never turned into a float). Errors name the file and the problem, never a row's
content: a ragged row is reported by its column counts only.
"""

from __future__ import annotations

import csv
import enum
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from bastion.core.errors import InputError

__all__ = ["BATCH_ROWS", "TableFormat", "detect_format", "iter_batches", "read_schema"]

BATCH_ROWS = 65_536
MAX_HEADER_BYTES = 1024 * 1024
MAX_COLUMNS = 4096
_RAGGED = re.compile(r"Expected (\d+) columns, got (\d+)")


class TableFormat(enum.StrEnum):
    CSV = "csv"
    PARQUET = "parquet"


def detect_format(path: Path) -> TableFormat | None:
    """Parquet by its magic bytes, CSV/TSV by suffix; None for anything else (text)."""
    try:
        with path.open("rb") as f:
            head = f.read(4)
    except OSError as exc:
        raise InputError(f"{path.name}: cannot read ({exc.strerror})") from None
    if head == b"PAR1":
        return TableFormat.PARQUET
    if path.suffix.lower() in (".csv", ".tsv"):
        return TableFormat.CSV
    return None


def _csv_header(path: Path, delimiter: str) -> list[str]:
    try:
        with path.open("r", encoding="utf-8", newline="") as f:
            line = f.readline(MAX_HEADER_BYTES)
    except UnicodeDecodeError:
        raise InputError(f"{path.name}: not UTF-8 text") from None
    except OSError as exc:
        raise InputError(f"{path.name}: cannot read ({exc.strerror})") from None
    if not line.strip():
        raise InputError(f"{path.name}: empty CSV (no header row)")
    names = next(csv.reader([line], delimiter=delimiter))
    if len(names) > MAX_COLUMNS:
        raise InputError(f"{path.name}: more than {MAX_COLUMNS} columns")
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise InputError(f"{path.name}: column {n[:80]!r} appears twice in the header")
        seen.add(n)
    return names


def _arrow_error(path: Path, exc: Exception) -> InputError:
    msg = str(exc)
    m = _RAGGED.search(msg)
    if m:
        return InputError(
            f"{path.name}: ragged CSV: a row has {m[2]} columns where the header has {m[1]}"
        )
    if "invalid UTF8" in msg or "UTF8" in msg:
        return InputError(f"{path.name}: a value is not valid UTF-8")
    return InputError(f"{path.name}: cannot parse the table ({type(exc).__name__})")


def _delimiter(path: Path) -> str:
    return "\t" if path.suffix.lower() == ".tsv" else ","


def read_schema(path: Path, fmt: TableFormat) -> pa.Schema:
    if fmt is TableFormat.PARQUET:
        try:
            return pq.ParquetFile(path).schema_arrow
        except (pa.ArrowException, OSError) as exc:
            raise InputError(
                f"{path.name}: not a readable Parquet file ({type(exc).__name__})"
            ) from None
    names = _csv_header(path, _delimiter(path))
    return pa.schema([(n, pa.string()) for n in names])


def iter_batches(
    path: Path, fmt: TableFormat, *, batch_rows: int = BATCH_ROWS
) -> Iterator[pa.RecordBatch]:
    """The table's record batches, one at a time (``InputError`` on a malformed file)."""
    if fmt is TableFormat.PARQUET:
        try:
            pf = pq.ParquetFile(path)
            it: Iterator[Any] = pf.iter_batches(batch_size=batch_rows)
            while True:
                try:
                    batch = next(it)
                except StopIteration:
                    return
                yield batch
        except (pa.ArrowException, OSError) as exc:
            raise InputError(
                f"{path.name}: not a readable Parquet file ({type(exc).__name__})"
            ) from None
    delim = _delimiter(path)
    names = _csv_header(path, delim)
    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=4 * 1024 * 1024),
            parse_options=pacsv.ParseOptions(delimiter=delim, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        for batch in reader:
            if batch.num_rows > batch_rows:
                for off in range(0, batch.num_rows, batch_rows):
                    yield batch.slice(off, batch_rows)
            else:
                yield batch
    except (pa.ArrowException, OSError) as exc:
        raise _arrow_error(path, exc) from None
