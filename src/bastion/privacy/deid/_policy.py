"""Masking policies: one rule (operator and parameters) per column, from YAML.

::

    version: 1
    columns:
      email:       {operator: hash}                 # HMAC-SHA256, key "default"
      ssn:         {operator: fpe}                  # FF3-1, digits, tweak per column
      card_number: {operator: mask, keep_last: 4}
      customer_id: {operator: tokenize, namespace: customers}
      full_name:   {operator: redact}
      city:        {operator: replace, value: "<CITY>"}
      dob:         {operator: generalize, to: year}
      zip:         {operator: generalize, keep: 3}
      income:      {operator: generalize, bucket: 10000}
    allow_unmasked: [notes]   # PII columns knowingly left as they are

A policy is parsed with ``yaml.safe_load``, size-limited, and validated field by field:
an unknown operator, parameter or key is refused with its path in the policy.
"""

from __future__ import annotations

import enum
import hashlib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bastion.core.documents import load_document
from bastion.core.errors import InputError

__all__ = [
    "MAX_POLICY_BYTES",
    "ColumnRule",
    "MaskingPolicy",
    "OperatorName",
    "load_policy",
    "parse_policy",
]

MAX_POLICY_BYTES = 256 * 1024


class OperatorName(enum.StrEnum):
    REDACT = "redact"
    REPLACE = "replace"
    MASK = "mask"
    HASH = "hash"
    TOKENIZE = "tokenize"
    FPE = "fpe"
    GENERALIZE = "generalize"


_PARAMS: dict[OperatorName, frozenset[str]] = {
    OperatorName.REDACT: frozenset({"value"}),
    OperatorName.REPLACE: frozenset({"value"}),
    OperatorName.MASK: frozenset({"char", "keep_first", "keep_last", "keep_separators"}),
    OperatorName.HASH: frozenset({"key", "length", "prefix"}),
    OperatorName.TOKENIZE: frozenset({"namespace"}),
    OperatorName.FPE: frozenset({"key", "alphabet", "tweak", "on_error"}),
    OperatorName.GENERALIZE: frozenset({"to", "keep", "bucket", "fill", "on_error"}),
}
_KEY = r"^[a-z0-9][a-z0-9_.-]{0,40}$"


class ColumnRule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    operator: OperatorName
    value: str | None = Field(None, max_length=200)
    char: str | None = Field(None, min_length=1, max_length=1)
    keep_first: int | None = Field(None, ge=0, le=64)
    keep_last: int | None = Field(None, ge=0, le=64)
    keep_separators: bool | None = None
    key: str | None = Field(None, pattern=_KEY)
    length: int | None = Field(None, ge=8, le=64)
    prefix: str | None = Field(None, max_length=20)
    namespace: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9_-]{0,47}$")
    alphabet: str | None = Field(None, pattern=r"^(digits|hex|letters|alnum)$")
    tweak: str | None = Field(None, max_length=100)
    to: str | None = Field(None, pattern=r"^(year|month)$")
    keep: int | None = Field(None, ge=0, le=64)
    bucket: float | None = Field(None, gt=0)
    fill: str | None = Field(None, max_length=1)
    on_error: str | None = Field(None, pattern=r"^(fail|redact)$")

    def params(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump(exclude={"operator"}).items() if v is not None}


class MaskingPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    version: int = Field(1, ge=1, le=1)
    columns: dict[str, ColumnRule] = Field(min_length=1, max_length=4096)
    allow_unmasked: tuple[str, ...] = Field((), max_length=4096)

    def digest(self) -> str:
        body = self.model_dump_json(exclude_none=True).encode()
        return "sha256:" + hashlib.sha256(body).hexdigest()


def parse_policy(text: str | bytes, source: str = "policy") -> MaskingPolicy:
    policy = load_document(
        text,
        MaskingPolicy,
        what=source,
        max_bytes=MAX_POLICY_BYTES,
        shape="a mapping with 'columns'",
    )
    for col, rule in policy.columns.items():
        extra = set(rule.params()) - _PARAMS[rule.operator]
        if extra:
            raise InputError(
                f"{source}: columns.{col}: operator {rule.operator.value} does not take "
                f"{', '.join(sorted(extra))} (it takes: {', '.join(sorted(_PARAMS[rule.operator])) or 'nothing'})"
            )
        if rule.operator is OperatorName.TOKENIZE and rule.namespace is None:
            raise InputError(f"{source}: columns.{col}: tokenize needs a namespace")
        if rule.operator is OperatorName.REPLACE and rule.value is None:
            raise InputError(f"{source}: columns.{col}: replace needs a value")
        if (
            rule.operator is OperatorName.GENERALIZE
            and sum(x is not None for x in (rule.to, rule.keep, rule.bucket)) != 1
        ):
            raise InputError(
                f"{source}: columns.{col}: generalize needs exactly one of to, keep, bucket"
            )
    return policy


def load_policy(path: Path) -> MaskingPolicy:
    try:
        size = path.stat().st_size
        if size > MAX_POLICY_BYTES:
            raise InputError(f"{path.name}: larger than {MAX_POLICY_BYTES} bytes")
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path.name}: cannot read ({exc.strerror})") from None
    return parse_policy(raw, path.name)
