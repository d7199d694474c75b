"""The constraint file: a YAML document of column rules and distribution limits, read
through ``bastion.core.documents`` and turned into a pandera ``DataFrameSchema``."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bastion.core.documents import load_document
from bastion.core.errors import InputError

__all__ = [
    "ColumnRule",
    "Constraints",
    "DistributionRules",
    "NearDuplicates",
    "load_constraints",
    "parse_constraints",
    "to_pandera",
]

MAX_CONSTRAINT_BYTES = 512 * 1024
ColumnType = Literal["int", "float", "str", "bool"]
Category = str | int | float | bool


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnRule(_Strict):
    type: ColumnType | None = None
    required: bool = True
    nullable: bool = False
    unique: bool = False
    min: float | None = None
    max: float | None = None
    categories: tuple[Category, ...] | None = Field(None, min_length=1, max_length=10_000)
    pattern: str | None = Field(None, max_length=500)

    @field_validator("pattern")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"not a regular expression ({exc.msg})") from None
        return v

    @model_validator(mode="after")
    def _bounds(self) -> ColumnRule:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min is above max (bounds reversed)")
        if self.type == "str" and (self.min is not None or self.max is not None):
            raise ValueError("min/max apply to numbers, not to a str column")
        return self


class NearDuplicates(_Strict):
    max_rate: float = Field(0.01, ge=0.0, le=1.0)
    decimals: int = Field(2, ge=0, le=12)
    columns: tuple[str, ...] | None = Field(None, min_length=1, max_length=1000)


class DistributionRules(_Strict):
    columns: tuple[str, ...] | None = Field(None, min_length=1, max_length=1000)
    categorical: tuple[str, ...] = Field((), max_length=1000)
    psi_max: float = Field(0.2, ge=0.0, le=10.0)
    alpha: float = Field(0.01, gt=0.0, lt=1.0)
    label: str | None = Field(None, max_length=200)
    label_shift_max: float = Field(0.1, ge=0.0, le=1.0)
    near_duplicates: NearDuplicates | None = None


class Constraints(_Strict):
    version: Literal[1] = 1
    name: str | None = Field(None, max_length=200)
    columns: dict[str, ColumnRule] = Field(min_length=1, max_length=1000)
    strict: bool = True
    min_rows: int | None = Field(None, ge=0)
    max_rows: int | None = Field(None, ge=1)
    distribution: DistributionRules | None = None

    @model_validator(mode="after")
    def _known(self) -> Constraints:
        d = self.distribution
        if d is not None:
            named = [*(d.columns or ()), *d.categorical, *([d.label] if d.label else [])]
            if d.near_duplicates and d.near_duplicates.columns:
                named += d.near_duplicates.columns
            for c in named:
                if c not in self.columns:
                    raise ValueError(f"distribution names column {c[:80]!r}, not in columns")
        return self


def parse_constraints(text: str | bytes, what: str = "constraint file") -> Constraints:
    return load_document(text, Constraints, what=what, max_bytes=MAX_CONSTRAINT_BYTES)


def load_constraints(path: Path) -> tuple[Constraints, str]:
    """The constraints and the sha256 of the file's bytes."""
    try:
        if path.stat().st_size > MAX_CONSTRAINT_BYTES:
            raise InputError(f"{path.name}: larger than {MAX_CONSTRAINT_BYTES} bytes")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path.name}: no such constraint file") from None
    except OSError as exc:
        raise InputError(f"{path.name}: cannot read ({exc.strerror})") from None
    return parse_constraints(raw, path.name), "sha256:" + hashlib.sha256(raw).hexdigest()


def _num(v: float) -> float | int:
    return int(v) if float(v).is_integer() else v


_DTYPES = {"int": "Int64", "float": "float64", "str": "str", "bool": "boolean"}


def to_pandera(c: Constraints) -> Any:
    """The pandera ``DataFrameSchema`` of the column rules (values are coerced to the
    declared type; a value that does not coerce is a failure of that column)."""
    import pandera.pandas as pa

    cols: dict[str, Any] = {}
    for name, r in c.columns.items():
        checks = []
        if r.min is not None:
            checks.append(pa.Check.ge(_num(r.min)))
        if r.max is not None:
            checks.append(pa.Check.le(_num(r.max)))
        if r.categories is not None:
            checks.append(pa.Check.isin(list(r.categories)))
        if r.pattern is not None:
            checks.append(pa.Check.str_matches(r.pattern))
        cols[name] = pa.Column(
            _DTYPES[r.type] if r.type else None,
            checks=checks,
            nullable=r.nullable,
            unique=r.unique,
            required=r.required,
            coerce=r.type is not None,
        )
    return pa.DataFrameSchema(cols, strict=c.strict, name=c.name)
