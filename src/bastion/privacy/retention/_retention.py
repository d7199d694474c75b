"""Items under retention, legal holds, and the sweep: plan (a dry run) and apply.

Applying deletes (or anonymizes) each expired item that no legal hold protects, one
transaction per item: the item's state, its disposal proof (what, path, digests, when,
which policy and legal basis) and a ``privacy.retention.deleted`` / ``.anonymized`` ledger
event are written and flushed before the file is touched; the file is removed (or
replaced by its anonymized copy) and then the transaction commits. A file that cannot be
removed rolls the proof back. The run is recorded as ``privacy.retention`` evidence."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bastion.core.checks import record_evidence
from bastion.core.errors import CheckError, ConflictError, InputError, NotFoundError
from bastion.core.evidence import EvidenceQuery
from bastion.core.ledger import Event
from bastion.core.types import Evidence, Finding, Severity, Subject, Verdict
from bastion.core.workspace import Workspace
from bastion.privacy.retention._checks import RetentionCheck, RetentionData
from bastion.privacy.retention._policy import ArtifactKind, RetentionAction, RetentionPolicies
from bastion.privacy.retention._rows import RetentionItemRow

__all__ = [
    "Item",
    "PlanEntry",
    "RetentionRun",
    "RetentionStatus",
    "apply_retention",
    "file_sha256",
    "list_items",
    "plan_retention",
    "register_item",
    "release_hold",
    "retention_status",
    "set_hold",
]

_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$")
_CATEGORY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def _utc(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


@dataclass(frozen=True)
class Item:
    kind: str
    ref: str
    category: str
    path: str | None
    digest: str | None
    jurisdiction: str | None
    collected_at: datetime
    hold: str | None
    state: str
    disposal: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "ref": self.ref, "category": self.category,
                "path": self.path, "digest": self.digest, "jurisdiction": self.jurisdiction,
                "collected_at": self.collected_at.isoformat(), "hold": self.hold,
                "state": self.state, "disposal": self.disposal}  # fmt: skip


def _item(r: RetentionItemRow) -> Item:
    return Item(r.kind, r.ref, r.category, r.path, r.digest, r.jurisdiction,
                _utc(r.collected_at), r.hold_reason, r.state, r.disposal)  # fmt: skip


def register_item(
    ws: Workspace,
    kind: ArtifactKind | str,
    ref: str,
    *,
    category: str,
    path: Path,
    collected_at: datetime | None = None,
    jurisdiction: str | None = None,
    actor: str = "cli",
) -> Item:
    """Put a file under retention (its age counts from ``collected_at``, default now)."""
    try:
        k = ArtifactKind(kind)
    except ValueError:
        raise InputError(
            f"kind: expected one of {', '.join(a.value for a in ArtifactKind)}"
        ) from None
    if not _REF.match(ref):
        raise InputError("ref: 1-200 letters, digits and ._:/@+- (starting with a letter or digit)")
    if not _CATEGORY.match(category):
        raise InputError("category: 1-100 letters, digits and ._-")
    if jurisdiction is not None and not re.match(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$", jurisdiction):
        raise InputError("jurisdiction: an ISO 3166 code like EU, US, US-CA")
    if path.is_symlink() or not path.is_file():
        raise InputError(f"{path}: expected a regular file (not a link or folder)")
    now = datetime.now(UTC)
    when = _utc(collected_at) if collected_at else now
    if when > now:
        raise InputError("collected: in the future")
    real = str(path.resolve())
    if len(real) > 1000:
        raise InputError("path: longer than 1000 characters")
    digest = file_sha256(path)
    with ws.db.session() as s:
        if s.scalars(select(RetentionItemRow).where(
            RetentionItemRow.kind == k.value, RetentionItemRow.ref == ref
        )).first() is not None:  # fmt: skip
            raise ConflictError(f"{k.value} {ref} is already registered")
        row = RetentionItemRow(
            kind=k.value, category=category, ref=ref, path=real, digest=digest,
            jurisdiction=jurisdiction, collected_at=when, registered_at=now,
            registered_by=actor[:200], state="active",
        )  # fmt: skip
        s.add(row)
        s.flush()
        ws.ledger.append([Event("privacy.retention.registered",
                                {"kind": k.value, "ref": ref, "category": category,
                                 "digest": digest, "collected_at": when.isoformat(),
                                 "jurisdiction": jurisdiction}, actor)], session=s)  # fmt: skip
        return _item(row)


def _row(s: Any, kind: str, ref: str) -> RetentionItemRow:
    row = s.scalars(
        select(RetentionItemRow).where(RetentionItemRow.kind == kind, RetentionItemRow.ref == ref)
    ).first()
    if row is None:
        raise NotFoundError(f"no {kind} {ref[:200]} under retention")
    return row  # type: ignore[no-any-return]


def set_hold(ws: Workspace, kind: str, ref: str, *, reason: str, actor: str = "cli") -> Item:
    """A legal hold: the item is never deleted or anonymized while it stands."""
    if not 3 <= len(reason) <= 500:
        raise InputError("reason: 3-500 characters (the matter the hold is for)")
    with ws.db.session() as s:
        row = _row(s, kind, ref)
        if row.state != "active":
            raise ConflictError(f"{kind} {ref} was already {row.state}")
        row.hold_reason, row.held_by = reason, actor[:200]
        ws.ledger.append([Event("privacy.retention.hold", {"kind": kind, "ref": ref,
                                                           "reason": reason}, actor)], session=s)  # fmt: skip
        return _item(row)


def release_hold(ws: Workspace, kind: str, ref: str, *, actor: str = "cli") -> Item:
    with ws.db.session() as s:
        row = _row(s, kind, ref)
        if row.hold_reason is None:
            raise ConflictError(f"{kind} {ref} has no legal hold")
        before = row.hold_reason
        row.hold_reason, row.held_by = None, None
        ws.ledger.append([Event("privacy.retention.hold_released",
                                {"kind": kind, "ref": ref, "reason": before}, actor)], session=s)  # fmt: skip
        return _item(row)


def list_items(ws: Workspace, *, include_disposed: bool = False) -> list[Item]:
    with ws.db.session() as s:
        q = select(RetentionItemRow).order_by(RetentionItemRow.id)
        if not include_disposed:
            q = q.where(RetentionItemRow.state == "active")
        return [_item(r) for r in s.scalars(q)]


@dataclass(frozen=True)
class PlanEntry:
    item: Item
    policy: str | None
    action: str | None
    legal_basis: str | None
    expires_at: datetime | None
    expired: bool
    held: bool

    @property
    def due(self) -> bool:
        return self.expired and not self.held

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.item.kind, "ref": self.item.ref, "category": self.item.category,
                "policy": self.policy, "action": self.action, "legal_basis": self.legal_basis,
                "expires_at": self.expires_at.isoformat() if self.expires_at else None,
                "expired": self.expired, "held": self.held, "due": self.due,
                "hold": self.item.hold}  # fmt: skip


def plan_retention(
    ws: Workspace, policies: RetentionPolicies, *, now: datetime | None = None
) -> list[PlanEntry]:
    """What a sweep at ``now`` would do to each active item (changes nothing)."""
    at = _utc(now) if now else datetime.now(UTC)
    out: list[PlanEntry] = []
    for it in list_items(ws):
        p = policies.match(it.kind, it.category, it.jurisdiction)
        if p is None:
            out.append(PlanEntry(it, None, None, None, None, False, it.hold is not None))
            continue
        exp = it.collected_at + p.max_age
        out.append(PlanEntry(it, p.id, p.action.value, p.legal_basis, exp, exp <= at,
                             it.hold is not None))  # fmt: skip
    return out


@dataclass(frozen=True)
class RetentionRun:
    plan: tuple[PlanEntry, ...]
    disposed: tuple[dict[str, Any], ...]
    dry_run: bool
    evidence: Evidence | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "plan": [e.to_dict() for e in self.plan],
            "disposed": list(self.disposed),
            "evidence_id": self.evidence.id if self.evidence else None,
        }


def _anonymize(ws: Workspace, path: Path, actor: str) -> tuple[Path, list[str]]:
    """A copy of ``path`` with every column the classifier calls PII redacted."""
    import yaml

    from bastion.privacy.deid import mask_file, parse_policy
    from bastion.privacy.pii import scan_file

    scan = scan_file(path)
    if scan.table is None:
        raise InputError(f"{path.name}: anonymize applies to CSV/TSV/Parquet tables")
    cols = [c.column for c in scan.table.pii_columns]
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    if not cols:
        Path(tmp).unlink()
        return path, []
    policy = parse_policy(yaml.safe_dump({"columns": {c: {"operator": "redact"} for c in cols}}))
    try:
        mask_file(path, policy, Path(tmp), ws=ws, actor=actor)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp), cols


def _dispose(ws: Workspace, e: PlanEntry, policies_digest: str, actor: str) -> dict[str, Any]:
    it = e.item
    assert e.action is not None
    path = Path(it.path) if it.path else None
    now = datetime.now(UTC)
    current = file_sha256(path) if path is not None and path.is_file() else None
    proof: dict[str, Any] = {
        "kind": it.kind, "ref": it.ref, "category": it.category, "path": it.path,
        "registered_digest": it.digest, "digest": current, "action": e.action,
        "policy": e.policy, "legal_basis": e.legal_basis, "policies_digest": policies_digest,
        "collected_at": it.collected_at.isoformat(), "disposed_at": now.isoformat(),
        "file_present": current is not None,
    }  # fmt: skip
    anon: Path | None = None
    if e.action == RetentionAction.ANONYMIZE.value and path is not None and current is not None:
        anon, cols = _anonymize(ws, path, actor)
        proof["redacted_columns"] = cols
        proof["output_digest"] = file_sha256(anon) if anon != path else current
    with ws.db.session() as s:
        row = _row(s, it.kind, it.ref)
        if row.hold_reason is not None or row.state != "active":  # changed since the plan
            if anon is not None and anon != path:
                anon.unlink(missing_ok=True)
            return {**proof, "skipped": "held or no longer active"}
        row.state = "deleted" if e.action == "delete" else "anonymized"
        row.disposed_at, row.disposal = now, proof
        if e.action == "anonymize":
            row.digest = proof.get("output_digest")
        s.flush()
        ws.ledger.append([Event(f"privacy.retention.{row.state}", proof, actor)], session=s)
        try:
            if path is not None and current is not None:
                if e.action == "delete":
                    path.unlink()
                elif anon is not None and anon != path:
                    os.replace(anon, path)
        except OSError as exc:
            if anon is not None and anon != path:
                with contextlib.suppress(OSError):
                    anon.unlink()
            raise InputError(f"{it.ref}: cannot {e.action} {path} ({exc.strerror})") from None
    return proof


def apply_retention(
    ws: Workspace,
    policies: RetentionPolicies,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    actor: str = "cli",
) -> RetentionRun:
    """Dispose of every due item (dry run: only the plan); record the run as
    ``privacy.retention`` evidence (not for a dry run)."""
    plan = plan_retention(ws, policies, now=now)
    if dry_run:
        return RetentionRun(tuple(plan), (), True, None)
    digest = policies.digest()
    disposed = [_dispose(ws, e, digest, actor) for e in plan if e.due]
    held = tuple(f"{e.item.kind}:{e.item.ref}" for e in plan if e.expired and e.held)
    unmanaged = tuple(f"{e.item.kind}:{e.item.ref}" for e in plan if e.policy is None)
    skipped = [d for d in disposed if "skipped" in d]
    findings = tuple(
        Finding("privacy.retention.unmanaged", "No retention policy covers this item",
                Severity.MEDIUM, f"{u} has no retention policy (kind and category)", u)
        for u in unmanaged
    )  # fmt: skip
    at = _utc(now) if now else datetime.now(UTC)
    data = RetentionData(
        policies_digest=digest, policies=tuple(p.id for p in policies.policies),
        as_of=at.isoformat(), items=len(plan),
        disposed=tuple(d for d in disposed if "skipped" not in d), held=held,
        unmanaged=unmanaged, overdue=len(skipped),
        document=policies.model_dump(mode="json"),
    )  # fmt: skip
    ev = record_evidence(
        ws, RetentionCheck, Subject("system", "retention", digest),
        verdict=Verdict.WARN if unmanaged or skipped else Verdict.PASS, data=data,
        findings=findings, actor=actor,
    )  # fmt: skip
    return RetentionRun(tuple(plan), tuple(disposed), False, ev)


@dataclass(frozen=True)
class RetentionStatus:
    """Where retention stands: every active item, planned under the policies of the latest
    recorded sweep when it holds them (``why`` says when it does not)."""

    items: tuple[Item, ...]
    plan: tuple[PlanEntry, ...]
    sweep: Evidence | None
    why: str | None

    @property
    def held(self) -> tuple[Item, ...]:
        return tuple(i for i in self.items if i.hold is not None)

    @property
    def next_expiry(self) -> PlanEntry | None:
        """The item that expires next (not yet expired, not held)."""
        pending = [
            (e.expires_at, k, e)
            for k, e in enumerate(self.plan)
            if e.expires_at is not None and not e.expired and not e.held
        ]
        return min(pending)[2] if pending else None

    @property
    def due(self) -> tuple[PlanEntry, ...]:
        return tuple(e for e in self.plan if e.due)


def retention_status(ws: Workspace, *, now: datetime | None = None) -> RetentionStatus:
    """The registered items and, under the latest ``privacy.retention`` sweep's recorded
    policies (checked against the digest the sweep recorded), when each one expires."""
    items = tuple(list_items(ws))
    found = ws.evidence.list(EvidenceQuery(check_id=RetentionCheck.id, limit=1))
    if not found:
        return RetentionStatus(items, (), None, "no retention sweep recorded yet")
    sweep = found[0]
    try:
        data = RetentionCheck.read(sweep)
    except CheckError:
        return RetentionStatus(items, (), sweep, "the latest sweep's evidence does not read")
    if data.document is None:
        return RetentionStatus(items, (), sweep, "the latest sweep did not record its policies")
    try:
        policies = RetentionPolicies.model_validate(data.document)
    except ValueError:
        return RetentionStatus(items, (), sweep, "the latest sweep's policies do not read")
    if policies.digest() != data.policies_digest:
        return RetentionStatus(
            items, (), sweep, "the latest sweep's policies do not match its recorded digest"
        )
    return RetentionStatus(items, tuple(plan_retention(ws, policies, now=now)), sweep, None)
