"""Reading a CSV or Parquet table for drift: read once into memory (size-limited), hashed
from the same bytes it is parsed from, numeric columns as float64 (nulls as NaN), the
others as strings."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from bastion.core.errors import InputError

__all__ = ["MAX_COLUMNS", "MAX_TABLE_BYTES", "Table", "read_table"]

MAX_TABLE_BYTES = 1 << 30
MAX_COLUMNS = 1000


@dataclass(frozen=True)
class Table:
    name: str
    digest: str  # sha256 of the bytes parsed
    size: int
    format: str
    rows: int
    columns: dict[str, Any]  # name -> numpy array (float64) or list of str | None
    categorical: tuple[str, ...]


def read_table(path: Path, *, max_bytes: int = MAX_TABLE_BYTES) -> Table:
    """Read ``path`` (.csv/.tsv or Parquet, by its magic bytes). Errors name the file, never
    its contents."""
    name = path.name
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise InputError(f"{name}: not a regular file")
        if size > max_bytes:
            raise InputError(f"{name}: larger than {max_bytes} bytes")
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{name}: cannot read ({exc.strerror})") from None
    if len(data) > max_bytes:
        raise InputError(f"{name}: larger than {max_bytes} bytes")
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    try:
        if data[:4] == b"PAR1":
            fmt = "parquet"
            table = pq.read_table(pa.BufferReader(data))
        else:
            fmt = "tsv" if path.suffix.lower() == ".tsv" else "csv"
            opts = pacsv.ParseOptions(delimiter="\t" if fmt == "tsv" else ",")
            table = pacsv.read_csv(pa.BufferReader(data), parse_options=opts)
    except (pa.ArrowException, ValueError, OSError) as exc:
        raise InputError(
            f"{name}: not a readable {('Parquet' if data[:4] == b'PAR1' else 'CSV')} table ({type(exc).__name__})"
        ) from None
    if table.num_columns > MAX_COLUMNS:
        raise InputError(f"{name}: more than {MAX_COLUMNS} columns")
    cols: dict[str, Any] = {}
    cat: list[str] = []
    for field, col in zip(table.schema, table.columns, strict=True):
        t = field.type
        if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t):
            cols[field.name] = np.asarray(
                col.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64
            )
        else:
            cols[field.name] = [None if v is None else str(v) for v in col.to_pylist()]
            cat.append(field.name)
    return Table(name, digest, len(data), fmt, table.num_rows, cols, tuple(cat))
