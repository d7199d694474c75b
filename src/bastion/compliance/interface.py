"""The compliance room's data types: controls, the subjects they are evaluated on, and
their results.

A :class:`Control` says which evidence satisfies it (a check, conditions on its data, a
maximum age, a subject scope), who may produce that evidence, and how much of the
control automation covers (:class:`Coverage`). Without fresh evidence (and, where
coverage is partial or attestation only, a fresh dated attestation) it fails closed.
"""

from __future__ import annotations

import enum
import fnmatch
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from bastion.access import Role
from bastion.core.errors import InputError
from bastion.core.types import Severity, Verdict
from bastion.governance import parse_duration

__all__ = [
    "PRODUCER_ROLES",
    "Condition",
    "Conditions",
    "Control",
    "ControlResult",
    "ControlSubject",
    "Coverage",
    "Duration",
    "MaybeDuration",
    "Producers",
    "Scope",
    "SelectsEvidence",
    "Verdicts",
    "producer_allowed",
]


class Coverage(enum.StrEnum):
    """How much of a control automation covers.

    ``full``: the evidence alone meets it (attestations do not count). ``partial``: the
    evidence AND a fresh attestation for the rest. ``attestation``: a fresh, dated
    attestation alone."""

    FULL = "full"
    PARTIAL = "partial"
    ATTESTATION = "attestation"


class Scope(enum.StrEnum):
    """Whose evidence: the model version (by its digest) or its system (by the system's
    current manifest digest in the inventory)."""

    MODEL = "model"
    SYSTEM = "system"


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
    "in": lambda a, b: a in b,
    "intersects": lambda a, b: bool(set(a) & set(b)),
}
_PRODUCER = re.compile(r"^[A-Za-z0-9:._@*?-]{1,200}$")
#: Producer entries that name a role rather than an actor pattern.
PRODUCER_ROLES = frozenset({r.value for r in Role} | {"local"})
_COND = re.compile(
    r"^\s*(?:data\.)?([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*"
    r"(>=|<=|==|!=|>|<|\bin\b|\bintersects\b)\s*(.+?)\s*$"
)
CONTROL_ID = r"^[a-z][a-z0-9_.-]{2,99}$"


@dataclass(frozen=True)
class Condition:
    """``data.<path> <op> <YAML value>``, e.g. ``accuracy >= 0.8`` or
    ``signers intersects [release@bank.example]``. Never evaluated as code."""

    path: str
    op: str
    value: Any
    text: str

    @classmethod
    def parse(cls, text: str) -> Condition:
        m = _COND.match(text)
        if m is None:
            raise InputError(
                f"condition {text!r} is not 'data.FIELD OP VALUE' with OP one of {', '.join(_OPS)}"
            )
        path, op, raw = m.groups()
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            raise InputError(f"condition {text!r}: the value {raw!r} is not YAML") from None
        if op in ("in", "intersects") and not isinstance(value, list):
            raise InputError(f"condition {text!r}: {op} needs a list like [a, b]")
        return cls(path, op, value, text.strip())

    def holds(self, data: dict[str, Any]) -> tuple[bool, str]:
        node: Any = data
        for part in self.path.split("."):
            if not isinstance(node, dict) or part not in node:
                return False, f"data.{self.path} is missing"
            node = node[part]
        if self.op == "intersects" and not isinstance(node, list):
            return False, f"data.{self.path} is not a list"
        try:
            ok = bool(_OPS[self.op](node, self.value))
        except TypeError:
            return False, f"data.{self.path} = {node!r} cannot be compared with {self.value!r}"
        return ok, f"data.{self.path} = {node!r}"


def _check_producers(v: tuple[str, ...]) -> tuple[str, ...]:
    if len(v) > 50:
        raise ValueError("at most 50 producers")
    for p in v:
        if not _PRODUCER.match(p):
            raise ValueError(
                f"producer {p!r} must be a role name or an actor pattern of 1-200 "
                "letters, digits and :._@*?-"
            )
    return v


def _verdicts(v: tuple[Verdict, ...]) -> tuple[Verdict, ...]:
    if Verdict.ERROR in v or not v:
        raise ValueError("verdicts must be non-empty and may not include error")
    return v


def _duration(v: str) -> str:
    parse_duration(v, "max_age")
    return v


def _maybe_duration(v: str | None) -> str | None:
    return v if v is None else _duration(v)


def _conditions(v: tuple[str, ...]) -> tuple[str, ...]:
    for c in v:
        Condition.parse(c)
    return v


# The field types an evidence requirement is made of, validated the same way wherever
# one is written: a catalog's control here, a gate policy's inline ``evidence:`` entry
# (the registry room), an approval's ``max_age``.
#: Accepted verdicts: non-empty, never ``error``.
Verdicts = Annotated[tuple[Verdict, ...], AfterValidator(_verdicts)]
#: A duration such as ``30d`` / ``12h`` (``parse_duration``).
Duration = Annotated[str, AfterValidator(_duration)]
MaybeDuration = Annotated[str | None, AfterValidator(_maybe_duration)]
#: ``data.FIELD OP VALUE`` conditions (``Condition.parse``).
Conditions = Annotated[tuple[str, ...], AfterValidator(_conditions)]
#: Role names and/or actor patterns (``_check_producers``).
Producers = Annotated[tuple[str, ...], AfterValidator(_check_producers)]


def producer_allowed(producers: tuple[str, ...], actor: str, role: str | None) -> bool:
    """Whether ``actor`` (with ``role``: ``local`` for the local administrator, who also
    counts as admin; None for an unknown or revoked token) is one of ``producers``: role
    names and/or shell-style actor patterns. Empty: anyone."""
    if not producers:
        return True
    roles = {role, "admin"} if role == "local" else {role}
    for p in producers:
        if p in PRODUCER_ROLES:
            if p in roles:
                return True
        elif fnmatch.fnmatchcase(actor, p):
            return True
    return False


class SelectsEvidence:
    """What a catalog control and a gate policy's inline ``evidence:`` requirement share:
    the reading of their ``where`` conditions, ``max_age`` and ``producers`` (one copy)."""

    where: Conditions
    max_age: MaybeDuration
    producers: Producers

    @property
    def conditions(self) -> list[Condition]:
        return [Condition.parse(c) for c in self.where]

    @property
    def max_age_delta(self) -> timedelta | None:
        return parse_duration(self.max_age) if self.max_age else None

    def producer_allowed(self, actor: str, role: str | None) -> bool:
        """``role``: the producer's role (``local`` for the local administrator; None for
        an unknown or revoked token)."""
        return producer_allowed(self.producers, actor, role)


class Control(SelectsEvidence, BaseModel):
    """One control. ``check`` names the evidence kind (a registered check id) that
    satisfies it, on the model version or its system (``scope``), with ``verdicts``, no
    finding above ``max_severity``, at most ``max_age`` old, and every ``where``
    condition holding on its data; only evidence by one of ``producers`` counts (empty:
    anyone). ``coverage`` says what automation covers; attestations count only when by
    one of ``attesters`` and at most ``attestation_max_age`` old (and not past their own
    ``valid_until``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=CONTROL_ID)
    title: str | None = Field(default=None, max_length=300)
    description: str = Field(default="", max_length=4000)
    check: str | None = Field(default=None, min_length=3, max_length=100)
    scope: Scope = Scope.MODEL
    verdicts: Verdicts = (Verdict.PASS,)
    max_severity: Severity | None = None
    max_age: MaybeDuration = None
    where: Conditions = ()
    producers: Producers = ()
    coverage: Coverage = Coverage.FULL
    attesters: Producers = ("compliance", "admin")
    attestation_max_age: Duration = "365d"
    references: tuple[str, ...] = Field(default=(), max_length=50)
    #: True for a gate policy's inline ``evidence:`` requirement (no catalog entry).
    anonymous: bool = Field(default=False, exclude=True)

    @model_validator(mode="after")
    def _needs_check(self) -> Control:
        if self.check is None and self.coverage is not Coverage.ATTESTATION:
            raise ValueError(f"control {self.id}: coverage {self.coverage.value} needs a check")
        return self

    @property
    def attestation_validity(self) -> timedelta:
        return parse_duration(self.attestation_max_age)

    def describe(self) -> str:
        if self.title:
            return self.title
        if self.check is None:
            return f"{self.id}: a dated attestation at most {self.attestation_max_age} old"
        parts = [f"{self.check} on the {self.scope.value}"]
        parts.append("verdict " + "/".join(v.value for v in self.verdicts))
        if self.max_severity:
            parts.append(f"no finding above {self.max_severity.value}")
        if self.max_age:
            parts.append(f"at most {self.max_age} old")
        parts.extend(self.where)
        if self.producers:
            parts.append("produced by " + " or ".join(self.producers))
        if self.coverage is Coverage.PARTIAL:
            parts.append("plus a dated attestation")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json") | {"description_line": self.describe()}


@dataclass(frozen=True)
class ControlSubject:
    """What a control is evaluated on: a model version (``ref`` ``NAME@VERSION``, its
    manifest ``digest``, the ``system_id`` it belongs to and the ``earlier`` (version,
    digest) pairs of the model's other versions, so evidence about one of them is named
    stale) or a system (``model`` None, ``ref`` the system id)."""

    ref: str
    digest: str | None = None
    system_id: str | None = None
    model: str | None = None
    earlier: tuple[tuple[str, str], ...] = ()

    @property
    def is_model(self) -> bool:
        return self.model is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "model_version" if self.is_model else "system",
            "ref": self.ref,
            "digest": self.digest,
            "system_id": self.system_id,
        }


@dataclass(frozen=True)
class ControlResult:
    """Whether a control holds for a subject, why, what would fix it, and the evidence
    (attestations included) it relied on with who produced each."""

    control: str
    description: str
    coverage: Coverage
    satisfied: bool
    reason: str
    remedy: str | None = None
    evidence_ids: tuple[str, ...] = ()
    producers: tuple[str, ...] = ()
    attestation_ids: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "control": self.control,
            "description": self.description,
            "coverage": self.coverage.value,
            "satisfied": self.satisfied,
            "reason": self.reason,
            "remedy": self.remedy,
            "evidence_ids": list(self.evidence_ids),
            "attestation_ids": list(self.attestation_ids),
            "evidence_producers": dict(zip(self.evidence_ids, self.producers, strict=False)),
        }
