"""The spine's vocabulary: what a check looks at, what it finds, what it concludes."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["Evidence", "Finding", "Severity", "Subject", "Verdict"]


class Severity(enum.StrEnum):
    """Ordered severities; compare with ``rank``."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def at_least(self, other: Severity) -> bool:
        return self.rank >= other.rank


_RANK = {s: i for i, s in enumerate(Severity)}


class Verdict(enum.StrEnum):
    """What a check concluded. ``ERROR`` means it could not conclude: gates treat it as fail."""

    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    ERROR = "error"


@dataclass(frozen=True)
class Subject:
    """What a check examined: a kind (``system``, ``model_version``, ...) and a reference.

    ``digest`` pins the exact content, so evidence about one version never counts for another.
    """

    kind: str
    ref: str
    digest: str | None = None

    def __str__(self) -> str:
        return f"{self.kind}:{self.ref}" + (f"@{self.digest[:19]}" if self.digest else "")


@dataclass(frozen=True)
class Finding:
    """One problem (or noteworthy fact) a check found."""

    rule_id: str
    title: str
    severity: Severity
    message: str
    location: str | None = None
    references: tuple[str, ...] = ()
    remediation: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "title": self.title,
            "severity": self.severity.value,
            "message": self.message,
            "location": self.location,
            "references": list(self.references),
            "remediation": self.remediation,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Finding:
        return cls(
            rule_id=str(d["rule_id"]),
            title=str(d["title"]),
            severity=Severity(d["severity"]),
            message=str(d["message"]),
            location=d.get("location"),
            references=tuple(d.get("references") or ()),
            remediation=d.get("remediation"),
        )


@dataclass(frozen=True)
class Evidence:
    """A stored, ledgered result of running a check on a subject."""

    id: str
    check_id: str
    subject: Subject
    verdict: Verdict
    findings: tuple[Finding, ...]
    data: dict[str, Any]
    digest: str
    actor: str
    created_at: datetime
    blobs: tuple[str, ...] = field(default=())
    ledger_seq: int | None = None

    @property
    def max_severity(self) -> Severity | None:
        if not self.findings:
            return None
        return max((f.severity for f in self.findings), key=lambda s: s.rank)

    def to_dict(self) -> dict[str, Any]:
        """The one JSON form of evidence, shared by the CLI (``--format json``) and the API."""
        return {
            "id": self.id,
            "check_id": self.check_id,
            "subject": {
                "kind": self.subject.kind,
                "ref": self.subject.ref,
                "digest": self.subject.digest,
            },
            "verdict": self.verdict.value,
            "findings": [f.to_dict() for f in self.findings],
            "data": self.data,
            "digest": self.digest,
            "actor": self.actor,
            "created_at": self.created_at.isoformat(),
            "blobs": list(self.blobs),
            "ledger_seq": self.ledger_seq,
        }
