"""Checks: anything that examines a subject and returns evidence.

A check subclasses :class:`Check`, sets ``id`` and metadata as class attributes, and is
registered by defining it (``__init_subclass__``). :func:`run_check` runs it, stores the
evidence and ledgers its digest. A check that raises is recorded as ``Verdict.ERROR``: the
gate then fails closed rather than missing the result.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from bastion.core.errors import BastionError, CheckError, NotFoundError
from bastion.core.types import Evidence, Finding, Severity, Subject, Verdict

if TYPE_CHECKING:
    from bastion.core.workspace import Workspace

__all__ = ["Check", "CheckContext", "CheckResult", "all_checks", "get_check", "run_check"]

_ID = re.compile(r"^[a-z][a-z0-9_.-]{2,99}$")
_REGISTRY: dict[str, type[Check]] = {}


@dataclass(frozen=True)
class CheckResult:
    verdict: Verdict
    findings: tuple[Finding, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)
    attachments: Mapping[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckContext:
    """What a running check may use: the workspace (blob store, database) and parameters."""

    workspace: Workspace
    params: Mapping[str, Any]
    actor: str


class Check(ABC):
    id: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str] = ""
    subject_kinds: ClassVar[tuple[str, ...]] = ()
    severity: ClassVar[Severity] = Severity.MEDIUM
    references: ClassVar[tuple[str, ...]] = ()
    abstract: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("abstract", False):
            return
        cid = getattr(cls, "id", None)
        if not isinstance(cid, str) or not _ID.match(cid):
            raise TypeError(f"{cls.__name__}.id must match {_ID.pattern}")
        if not getattr(cls, "title", None):
            raise TypeError(f"{cls.__name__} must set a title")
        other = _REGISTRY.get(cid)
        if other is not None and other.__qualname__ != cls.__qualname__:
            raise TypeError(f"check id {cid} is already taken by {other.__qualname__}")
        _REGISTRY[cid] = cls

    @classmethod
    def metadata(cls) -> dict[str, Any]:
        return {
            "id": cls.id,
            "title": cls.title,
            "description": cls.description,
            "subject_kinds": list(cls.subject_kinds),
            "severity": cls.severity.value,
            "references": list(cls.references),
        }

    @abstractmethod
    def run(self, subject: Subject, ctx: CheckContext) -> CheckResult:
        """Examine ``subject``. Never execute what is examined."""


def get_check(check_id: str) -> type[Check]:
    try:
        return _REGISTRY[check_id]
    except KeyError:
        raise NotFoundError(f"no check with id {check_id!r}") from None


def all_checks() -> list[type[Check]]:
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def run_check(
    workspace: Workspace,
    check: Check | type[Check] | str,
    subject: Subject,
    *,
    actor: str = "system",
    params: Mapping[str, Any] | None = None,
) -> Evidence:
    """Run a check, persist its evidence (attachments into the blob store) and ledger it."""
    if isinstance(check, str):
        check = get_check(check)
    inst = check() if isinstance(check, type) else check
    if inst.subject_kinds and subject.kind not in inst.subject_kinds:
        raise CheckError(
            f"check {inst.id} examines {', '.join(inst.subject_kinds)}, not {subject.kind}"
        )
    ctx = CheckContext(workspace, dict(params or {}), actor)
    try:
        result = inst.run(subject, ctx)
    except BastionError as exc:
        result = CheckResult(Verdict.ERROR, data={"error": exc.message})
    except Exception as exc:
        result = CheckResult(Verdict.ERROR, data={"error": f"{type(exc).__name__}: {exc}"[:500]})
    blobs = [workspace.blobs.put(content) for _name, content in sorted(result.attachments.items())]
    data = dict(result.data)
    if result.attachments:
        data["attachments"] = dict(zip(sorted(result.attachments), blobs, strict=True))
    return workspace.evidence.record(
        check_id=inst.id,
        subject=subject,
        verdict=result.verdict,
        findings=result.findings,
        data=data,
        blobs=blobs,
        actor=actor,
    )
