"""Reading a CSV or Parquet table for drift: read once into memory (size-limited), hashed
from the same bytes it is parsed from, numeric columns as float64 (nulls as NaN), the
others as strings."""

from __future__ import annotations

import hashlib
import json
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
    skipped: int = 0  # (OCSF logs) events that hold no usable inputs: other classes, hashed


def read_table(path: Path, *, max_bytes: int = MAX_TABLE_BYTES) -> Table:
    """Read ``path``: CSV/TSV, Parquet (by its magic bytes) or an OCSF JSON-lines log
    (``.jsonl``/``.ndjson``). Errors name the file, never its contents."""
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
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return _read_ocsf_log(name, digest, data)
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


def _read_ocsf_log(name: str, digest: str, data: bytes) -> Table:
    """The inputs of the inference events of an OCSF log (a file sink's output) as a table:
    one row per API Activity event whose inputs were logged raw or masked, its scalar
    features as columns, plus ``output`` and ``confidence``. Other events, and events with
    hashed inputs, are counted in ``skipped``. A line that is not JSON is refused by
    number, so nothing is dropped silently."""
    rows: list[dict[str, Any]] = []
    skipped = 0
    for no, line in enumerate(data.split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            ev = json.loads(line)
        except ValueError:
            raise InputError(f"{name}: line {no} is not valid JSON") from None
        if not isinstance(ev, dict) or not isinstance(ev.get("class_uid"), int):
            raise InputError(f"{name}: line {no} is not an OCSF event")
        ai = ev.get("ai")
        inp = ai.get("input") if isinstance(ai, dict) else None
        if (
            ev["class_uid"] != 6003
            or not isinstance(inp, dict)
            or inp.get("mode") not in ("raw", "mask")
        ):
            skipped += 1
            continue
        feats = inp.get("features")
        row = {k: v for k, v in (feats if isinstance(feats, dict) else {}).items()
               if v is None or isinstance(v, (str, int, float))}  # fmt: skip
        assert isinstance(ai, dict)
        for k in ("output", "confidence"):
            v = ai.get(k)
            if v is None or isinstance(v, (str, int, float)):
                row[k] = v
        rows.append(row)
        if len(rows[-1]) > MAX_COLUMNS:
            raise InputError(f"{name}: line {no} has more than {MAX_COLUMNS} features")
    names: dict[str, None] = {}
    for r in rows:
        names.update(dict.fromkeys(r))
    if len(names) > MAX_COLUMNS:
        raise InputError(f"{name}: more than {MAX_COLUMNS} distinct features")
    cols: dict[str, Any] = {}
    cat: list[str] = []
    for c in names:
        vals = [r.get(c) for r in rows]
        if all(
            v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in vals
        ):
            cols[c] = np.asarray(
                [np.nan if v is None else float(v) for v in vals], dtype=np.float64
            )
        else:
            cols[c] = [None if v is None else str(v) for v in vals]
            cat.append(c)
    return Table(name, digest, len(data), "ocsf-jsonl", len(rows), cols, tuple(cat), skipped)
