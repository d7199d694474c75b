"""Retention policies (YAML): per artifact kind and data category, a period, a legal
basis and what happens at expiry (``delete`` or ``anonymize``), optionally per
jurisdiction. Read through ``bastion.core.documents``; a policy without a period, an
unknown key or action is refused naming its position."""

from __future__ import annotations

import enum
import hashlib
from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bastion.core.documents import load_document
from bastion.core.errors import InputError
from bastion.governance import parse_duration

__all__ = [
    "ArtifactKind",
    "RetentionAction",
    "RetentionPolicies",
    "RetentionPolicy",
    "load_policies",
    "parse_policies",
]

MAX_POLICY_BYTES = 256 * 1024
_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
_JURISDICTION = r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$"  # ISO 3166: EU, US, US-CA, DE ...


class ArtifactKind(enum.StrEnum):
    DATASET = "dataset"
    MODEL_ARTIFACT = "model_artifact"
    INFERENCE_LOG = "inference_log"
    EVIDENCE_EXPORT = "evidence_export"


class RetentionAction(enum.StrEnum):
    DELETE = "delete"
    ANONYMIZE = "anonymize"  # CSV/TSV/Parquet datasets: PII columns redacted in place


class RetentionPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=_ID)
    kinds: tuple[ArtifactKind, ...] = Field(min_length=1)
    categories: tuple[str, ...] = Field(("*",), min_length=1, max_length=100)
    jurisdictions: tuple[str, ...] | None = None
    period: str
    legal_basis: str = Field(min_length=3, max_length=300)
    action: RetentionAction = RetentionAction.DELETE
    regulation: Literal["GDPR", "CCPA", "CPRA", "LGPD", "PIPEDA", "other"] = "GDPR"

    @field_validator("period")
    @classmethod
    def _period(cls, v: str) -> str:
        parse_duration(v, "period")
        return v

    @field_validator("jurisdictions")
    @classmethod
    def _juris(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        import re

        for j in v or ():
            if not re.match(_JURISDICTION, j):
                raise ValueError(f"jurisdiction {j[:20]!r} is not an ISO 3166 code like EU, US-CA")
        return v

    @model_validator(mode="after")
    def _anonymize(self) -> RetentionPolicy:
        if self.action is RetentionAction.ANONYMIZE and self.kinds != (ArtifactKind.DATASET,):
            raise ValueError("anonymize applies to datasets only; delete other kinds")
        return self

    @property
    def max_age(self) -> timedelta:
        return parse_duration(self.period, "period")

    def applies(self, kind: str, category: str, jurisdiction: str | None) -> bool:
        if kind not in {k.value for k in self.kinds}:
            return False
        if "*" not in self.categories and category not in self.categories:
            return False
        return self.jurisdictions is None or (jurisdiction or "") in self.jurisdictions


class RetentionPolicies(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: Literal[1] = 1
    default_jurisdiction: str | None = Field(None, pattern=_JURISDICTION)
    policies: tuple[RetentionPolicy, ...] = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _unique(self) -> RetentionPolicies:
        ids = [p.id for p in self.policies]
        dup = next((i for i in ids if ids.count(i) > 1), None)
        if dup is not None:
            raise ValueError(f"policy id {dup!r} is used twice")
        return self

    def match(self, kind: str, category: str, jurisdiction: str | None) -> RetentionPolicy | None:
        """The policy for an item: one naming its jurisdiction before a general one, then
        the shortest period (the strictest wins)."""
        j = jurisdiction or self.default_jurisdiction
        found = [p for p in self.policies if p.applies(kind, category, j)]
        specific = [p for p in found if p.jurisdictions is not None]
        pool = specific or found
        return min(pool, key=lambda p: (p.max_age, p.id)) if pool else None

    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.model_dump_json().encode()).hexdigest()


def parse_policies(text: str | bytes, what: str = "retention policy") -> RetentionPolicies:
    return load_document(text, RetentionPolicies, what=what, max_bytes=MAX_POLICY_BYTES)


def load_policies(path: Path) -> RetentionPolicies:
    try:
        if path.stat().st_size > MAX_POLICY_BYTES:
            raise InputError(f"{path.name}: larger than {MAX_POLICY_BYTES} bytes")
        return parse_policies(path.read_bytes(), path.name)
    except FileNotFoundError:
        raise InputError(f"{path.name}: no such retention policy file") from None
