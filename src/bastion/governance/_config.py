"""The governance file: roles, people, RACI, boards and the escalation matrix, validated.

Parsed with ``yaml.safe_load`` after a size check and validated by pydantic models that
forbid unknown keys, so a typo is an error that names the file and the entry, not a
silently ignored setting.
"""

from __future__ import annotations

import enum
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bastion.core.documents import load_document
from bastion.core.errors import InputError
from bastion.core.types import Severity

__all__ = [
    "MAX_CONFIG_BYTES",
    "BoardSpec",
    "Domain",
    "Duty",
    "EscalationMatrix",
    "EscalationRule",
    "GovernanceConfig",
    "PersonSpec",
    "RaciSpec",
    "RoleSpec",
    "load_config",
    "parse_config",
    "parse_duration",
]

MAX_CONFIG_BYTES = 1024 * 1024
_ID = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$"
_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(value: str | int, what: str = "duration") -> timedelta:
    """``15m``, ``4h``, ``30d``, ``2w`` (or a number of seconds) as a timedelta."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value <= 0:
            raise InputError(f"{what} must be positive, got {value}")
        return timedelta(seconds=value)
    m = _DURATION.match(str(value).strip())
    if m is None or int(m.group(1)) == 0:
        raise InputError(f"{what} {value!r} is not a positive duration like 15m, 4h, 30d or 2w")
    return timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})


class Duty(enum.StrEnum):
    """Ownership duties of a RACI entry, with the RACI letter each carries."""

    OWNER = "owner"
    RISK_OWNER = "risk_owner"
    DATA_STEWARD = "data_steward"
    SECURITY_CHAMPION = "security_champion"

    @property
    def letter(self) -> str:
        return {"owner": "A", "risk_owner": "R", "data_steward": "R", "security_champion": "C"}[
            self.value
        ]


class Domain(enum.StrEnum):
    SECURITY = "security"
    LEGAL = "legal"
    COMPLIANCE = "compliance"
    PUBLIC_RELATIONS = "public_relations"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RoleSpec(_Strict):
    description: str = ""
    grants: tuple[str, ...] = ()


class PersonSpec(_Strict):
    id: str = Field(pattern=_ID)
    name: str = Field(min_length=1, max_length=200)
    roles: tuple[str, ...] = Field(min_length=1)
    grants: tuple[str, ...] = ()


class RaciSpec(_Strict):
    scope: str = Field(pattern=r"^(system|asset)$")
    ref: str = Field(min_length=1, max_length=200)
    owner: str | None = None
    risk_owner: str | None = None
    data_steward: str | None = None
    security_champion: str | None = None

    def duties(self) -> dict[Duty, str]:
        return {d: getattr(self, d.value) for d in Duty if getattr(self, d.value)}


class BoardMember(_Strict):
    person: str = Field(pattern=_ID)
    role: str = Field(min_length=1, max_length=60)


class BoardSpec(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9-]{1,59}$")
    name: str = Field(min_length=1, max_length=200)
    quorum: int = Field(ge=1, le=100)
    required_roles: tuple[str, ...] = ()
    members: tuple[BoardMember, ...] = Field(min_length=1)


class EscalationRule(_Strict):
    severity: tuple[Severity, ...] = Field(min_length=1)
    domain: Domain
    notify: tuple[str, ...] = Field(min_length=1)
    within: str

    @field_validator("severity", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("within")
    @classmethod
    def _duration(cls, v: str) -> str:
        parse_duration(v, "within")
        return v

    @property
    def deadline(self) -> timedelta:
        return parse_duration(self.within)


class EscalationMatrix(_Strict):
    """Every severity x domain cell must be covered exactly once: no gaps, no ambiguity."""

    rules: tuple[EscalationRule, ...] = Field(min_length=1)

    def cell(self, severity: Severity, domain: Domain) -> EscalationRule:
        for r in self.rules:
            if r.domain is domain and severity in r.severity:
                return r
        raise InputError(f"escalation matrix has no rule for {severity.value} x {domain.value}")

    def check_complete(self) -> None:
        seen: dict[tuple[Severity, Domain], int] = {}
        for i, r in enumerate(self.rules):
            for s in r.severity:
                if (s, r.domain) in seen:
                    raise InputError(
                        f"escalation rules {seen[(s, r.domain)]} and {i} both cover "
                        f"{s.value} x {r.domain.value}: keep one"
                    )
                seen[(s, r.domain)] = i
        missing = [f"{s.value} x {d.value}" for d in Domain for s in Severity if (s, d) not in seen]
        if missing:
            raise InputError(
                "escalation matrix does not cover " + ", ".join(missing) + ": add rules for them"
            )


class GovernanceConfig(_Strict):
    apiVersion: str = Field(pattern=r"^bastion/v1$")
    kind: str = Field(pattern=r"^Governance$")
    roles: dict[str, RoleSpec] = Field(default_factory=dict)
    people: tuple[PersonSpec, ...] = ()
    raci: tuple[RaciSpec, ...] = ()
    boards: tuple[BoardSpec, ...] = ()
    escalation: EscalationMatrix | None = None


def _where(loc: tuple[int | str, ...], raw: Any) -> str:
    """A readable location: ``people[2] (id: bob).roles`` rather than ``people.2.roles``."""
    parts: list[str] = []
    node = raw
    for p in loc:
        if isinstance(p, int):
            label = f"[{p}]"
            try:
                node = node[p]
                if isinstance(node, dict) and "id" in node:
                    label += f" (id: {node['id']})"
            except (IndexError, KeyError, TypeError):
                node = None
            parts.append(label)
        else:
            parts.append(("." if parts else "") + str(p))
            node = node.get(p) if isinstance(node, dict) else None
    return "".join(parts) or "(top level)"


def parse_config(text: str | bytes, filename: str = "governance file") -> GovernanceConfig:
    cfg = load_document(
        text,
        GovernanceConfig,
        what=filename,
        max_bytes=MAX_CONFIG_BYTES,
        shape="a mapping with apiVersion: bastion/v1",
        locate=_where,
    )
    _cross_check(cfg, filename)
    return cfg


def _cross_check(cfg: GovernanceConfig, filename: str) -> None:
    ids = [p.id for p in cfg.people]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        raise InputError(f"{filename}: people: duplicate id(s) {', '.join(sorted(dup))}")
    for p in cfg.people:
        for r in p.roles:
            if cfg.roles and r not in cfg.roles:
                raise InputError(
                    f"{filename}: people (id: {p.id}): role {r!r} is not defined under roles"
                )
    known = set(ids)
    for i, rc in enumerate(cfg.raci):
        for duty, who in rc.duties().items():
            if known and who not in known:
                raise InputError(
                    f"{filename}: raci[{i}] ({rc.scope} {rc.ref}): {duty.value} {who!r} "
                    "is not listed under people"
                )
    roles_of = {p.id: set(p.roles) for p in cfg.people}
    for b in cfg.boards:
        for m in b.members:
            if known and m.person not in known:
                raise InputError(
                    f"{filename}: boards (id: {b.id}): member {m.person!r} is not listed "
                    "under people"
                )
            if m.person in roles_of and m.role not in roles_of[m.person]:
                raise InputError(
                    f"{filename}: boards (id: {b.id}): member {m.person!r} sits as "
                    f"{m.role!r} but holds role(s) {', '.join(sorted(roles_of[m.person]))}"
                )
        if b.quorum > len(b.members):
            raise InputError(
                f"{filename}: boards (id: {b.id}): quorum {b.quorum} exceeds its "
                f"{len(b.members)} member(s)"
            )
        roles = {m.role for m in b.members}
        for r in b.required_roles:
            if r not in roles:
                raise InputError(
                    f"{filename}: boards (id: {b.id}): required role {r!r} has no member"
                )
    if cfg.escalation is not None:
        try:
            cfg.escalation.check_complete()
        except InputError as exc:
            raise InputError(f"{filename}: escalation: {exc.message}") from None


def load_config(path: Path) -> GovernanceConfig:
    path = Path(path)
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise InputError(f"{path} is larger than {MAX_CONFIG_BYTES} bytes")
        return parse_config(path.read_bytes(), str(path))
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
