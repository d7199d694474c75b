"""Evaluation data from a file: a CSV with a header (numeric columns, one label column)
or an NPZ with arrays ``x`` and ``y`` (read with ``allow_pickle=False``). Size-limited
before parsing; errors name the file and the column, never a value."""

from __future__ import annotations

import csv
import hashlib
import io
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from bastion.robustness.interface import RobustnessError

__all__ = ["Dataset", "load_dataset"]

MAX_DATA_BYTES = 256 * 1024 * 1024
MAX_ROWS = 1_000_000
MAX_COLUMNS = 100_000


@dataclass(frozen=True)
class Dataset:
    x: NDArray[np.float32]
    y: NDArray[np.float64]
    features: tuple[str, ...]
    digest: str  # sha256 of the file's bytes


def _read(path: Path) -> bytes:
    try:
        st = path.lstat()
    except OSError:
        raise RobustnessError(f"{path}: no such data file") from None
    if path.is_symlink() or not path.is_file():
        raise RobustnessError(f"{path}: the data must be a regular file (not a link or folder)")
    if st.st_size > MAX_DATA_BYTES:
        raise RobustnessError(f"{path}: larger than {MAX_DATA_BYTES >> 20} MiB")
    return path.read_bytes()


def _csv(
    raw: bytes, path: Path, label: str
) -> tuple[NDArray[np.float32], NDArray[np.float64], tuple[str, ...]]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RobustnessError(f"{path}: not UTF-8 text") from None
    rows = csv.reader(io.StringIO(text))
    header = next(rows, None)
    if not header or len(header) > MAX_COLUMNS:
        raise RobustnessError(f"{path}: expected a header row of at most {MAX_COLUMNS} columns")
    if label not in header:
        raise RobustnessError(f"{path}: no label column {label[:60]!r} (use --label)")
    li = header.index(label)
    values: list[list[float]] = []
    for n, row in enumerate(rows, start=2):
        if not row:
            continue
        if len(values) >= MAX_ROWS:
            raise RobustnessError(f"{path}: more than {MAX_ROWS} rows")
        if len(row) != len(header):
            raise RobustnessError(f"{path}: line {n} has {len(row)} fields, not {len(header)}")
        try:
            values.append([float(v) for v in row])
        except ValueError:
            bad = next(i for i, v in enumerate(row) if not _is_float(v))
            raise RobustnessError(
                f"{path}: line {n}, column {header[bad][:60]!r}: expected a number"
            ) from None
    if not values:
        raise RobustnessError(f"{path}: no data rows")
    arr = np.asarray(values, dtype=np.float64)
    names = tuple(h for i, h in enumerate(header) if i != li)
    return np.delete(arr, li, axis=1).astype(np.float32), arr[:, li], names


def _is_float(v: str) -> bool:
    try:
        float(v)
    except ValueError:
        return False
    return True


def _npz(
    raw: bytes, path: Path
) -> tuple[NDArray[np.float32], NDArray[np.float64], tuple[str, ...]]:
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as zf:
            total = sum(i.file_size for i in zf.infolist())
            if total > 4 * MAX_DATA_BYTES:
                raise RobustnessError(
                    f"{path}: the archive expands past {4 * MAX_DATA_BYTES >> 20} MiB"
                )
            # The .npy headers say what each array allocates: checked before any is read.
            for info in zf.infolist():
                with zf.open(info) as fh:
                    major, _minor = np.lib.format.read_magic(fh)
                    read = (
                        np.lib.format.read_array_header_1_0
                        if major == 1
                        else np.lib.format.read_array_header_2_0
                    )
                    shape, _order, dtype = read(fh)
                if math.prod(shape) * dtype.itemsize > 4 * MAX_DATA_BYTES:
                    raise RobustnessError(f"{path}: an array is larger than the data limit")
        with np.load(io.BytesIO(raw), allow_pickle=False) as z:
            if "x" not in z.files or "y" not in z.files:
                raise RobustnessError(f"{path}: expected arrays named x and y")
            x, y = z["x"], z["y"]
    except RobustnessError:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, EOFError):
        raise RobustnessError(f"{path}: not a readable NPZ of numeric arrays") from None
    if not np.issubdtype(x.dtype, np.number) or not np.issubdtype(y.dtype, np.number):
        raise RobustnessError(f"{path}: x and y must be numeric arrays")
    if y.ndim != 1 or len(x) != len(y) or len(x) > MAX_ROWS:
        raise RobustnessError(f"{path}: expected y of one label per row of x (at most {MAX_ROWS})")
    return x.astype(np.float32), y.astype(np.float64), ()


def load_dataset(path: Path, *, label: str = "label") -> Dataset:
    raw = _read(path)
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    if raw[:4] == b"PK\x03\x04":
        x, y, names = _npz(raw, path)
    else:
        x, y, names = _csv(raw, path, label)
    return Dataset(x, y, names, digest)
