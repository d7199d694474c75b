"""Evidence: stored results of checks, each one ledgered by digest in the same transaction."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ColumnElement, DateTime, String, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from bastion.core.canonical import canonical_json
from bastion.core.errors import InputError, NotFoundError
from bastion.core.ledger import Event, Ledger, LedgerProblem, VerifyReport
from bastion.core.storage import Base, Database
from bastion.core.types import Evidence, Finding, Subject, Verdict

__all__ = ["EvidenceQuery", "EvidenceStore", "evidence_digest"]


class EvidenceRow(Base):
    __tablename__ = "evidence"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    check_id: Mapped[str] = mapped_column(String(200), index=True)
    subject_kind: Mapped[str] = mapped_column(String(64))
    subject_ref: Mapped[str] = mapped_column(String(500), index=True)
    subject_digest: Mapped[str | None] = mapped_column(String(100), nullable=True)
    verdict: Mapped[str] = mapped_column(String(16))
    max_severity: Mapped[str | None] = mapped_column(String(16), nullable=True)
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    blobs: Mapped[list[str]] = mapped_column(JSON)
    digest: Mapped[str] = mapped_column(String(80))
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    ledger_seq: Mapped[int] = mapped_column(BigInteger)


def evidence_digest(body: Mapping[str, Any]) -> str:
    """SHA-256 over the RFC 8785 form of the evidence body: the value the ledger commits to."""
    return "sha256:" + hashlib.sha256(canonical_json(dict(body))).hexdigest()


def _body(
    eid: str,
    check_id: str,
    subject: Subject,
    verdict: Verdict,
    findings: Sequence[Finding],
    data: Mapping[str, Any],
    blobs: Sequence[str],
    actor: str,
    created_at: datetime,
) -> dict[str, Any]:
    return {
        "id": eid,
        "check_id": check_id,
        "subject": {"kind": subject.kind, "ref": subject.ref, "digest": subject.digest},
        "verdict": verdict.value,
        "findings": [f.to_dict() for f in findings],
        "data": dict(data),
        "blobs": list(blobs),
        "actor": actor,
        "created_at": created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }


@dataclass(frozen=True)
class EvidenceQuery:
    check_id: str | None = None
    subject_kind: str | None = None
    subject_ref: str | None = None
    subject_digest: str | None = None
    verdict: Verdict | None = None
    limit: int = 100
    offset: int = 0


class EvidenceStore:
    def __init__(self, db: Database, ledger: Ledger) -> None:
        self.db = db
        self.ledger = ledger

    def record(
        self,
        *,
        check_id: str,
        subject: Subject,
        verdict: Verdict,
        findings: Sequence[Finding] = (),
        data: Mapping[str, Any] | None = None,
        blobs: Sequence[str] = (),
        actor: str = "system",
        session: Session | None = None,
    ) -> Evidence:
        """Store evidence and append its digest to the ledger, in one transaction."""
        data = dict(data or {})
        now = datetime.now(UTC)
        eid = str(uuid.uuid4())
        body = _body(eid, check_id, subject, verdict, findings, data, blobs, actor, now)
        try:
            digest = evidence_digest(body)
        except InputError as exc:
            raise InputError(
                f"evidence of check {check_id} is not JSON-serialisable: {exc.message}"
            ) from None
        max_sev = max((f.severity for f in findings), key=lambda s: s.rank, default=None)

        def _write(s: Session) -> Evidence:
            (entry,) = self.ledger.append(
                [
                    Event(
                        "evidence.recorded",
                        {
                            "evidence_id": eid,
                            "digest": digest,
                            "check_id": check_id,
                            "subject": body["subject"],
                            "verdict": verdict.value,
                        },
                        actor,
                    )
                ],
                session=s,
            )
            s.add(
                EvidenceRow(
                    id=eid,
                    check_id=check_id,
                    subject_kind=subject.kind,
                    subject_ref=subject.ref,
                    subject_digest=subject.digest,
                    verdict=verdict.value,
                    max_severity=max_sev.value if max_sev else None,
                    findings=body["findings"],
                    data=data,
                    blobs=list(blobs),
                    digest=digest,
                    actor=actor,
                    created_at=now,
                    ledger_seq=entry.seq,
                )
            )
            s.flush()
            return Evidence(
                eid,
                check_id,
                subject,
                verdict,
                tuple(findings),
                data,
                digest,
                actor,
                now,
                tuple(blobs),
                entry.seq,
            )

        if session is not None:
            return _write(session)
        with self.db.session() as s:
            return _write(s)

    @staticmethod
    def _from_row(r: EvidenceRow) -> Evidence:
        ts = r.created_at if r.created_at.tzinfo else r.created_at.replace(tzinfo=UTC)
        return Evidence(
            r.id,
            r.check_id,
            Subject(r.subject_kind, r.subject_ref, r.subject_digest),
            Verdict(r.verdict),
            tuple(Finding.from_dict(f) for f in r.findings),
            dict(r.data),
            r.digest,
            r.actor,
            ts,
            tuple(r.blobs),
            r.ledger_seq,
        )

    def get(self, evidence_id: str) -> Evidence:
        with self.db.session() as s:
            row = s.get(EvidenceRow, evidence_id)
            if row is None:
                raise NotFoundError(f"evidence {evidence_id} not found")
            return self._from_row(row)

    @staticmethod
    def _where(q: EvidenceQuery) -> list[ColumnElement[bool]]:
        """The filters of ``q`` (its limit and offset aside), shared by list and count."""
        out: list[ColumnElement[bool]] = []
        if q.check_id:
            out.append(EvidenceRow.check_id == q.check_id)
        if q.subject_kind:
            out.append(EvidenceRow.subject_kind == q.subject_kind)
        if q.subject_ref:
            out.append(EvidenceRow.subject_ref == q.subject_ref)
        if q.subject_digest:
            out.append(EvidenceRow.subject_digest == q.subject_digest)
        if q.verdict:
            out.append(EvidenceRow.verdict == q.verdict.value)
        return out

    def count(self, query: EvidenceQuery | None = None) -> int:
        """How many pieces of evidence match ``query``'s filters (one COUNT query; its limit
        and offset are ignored)."""
        stmt = select(func.count()).select_from(EvidenceRow)
        where = self._where(query or EvidenceQuery())
        if where:
            stmt = stmt.where(*where)
        with self.db.session() as s:
            return int(s.scalar(stmt) or 0)

    def list(self, query: EvidenceQuery | None = None) -> list[Evidence]:
        q = query or EvidenceQuery()
        stmt = select(EvidenceRow)
        where = self._where(q)
        if where:
            stmt = stmt.where(*where)
        stmt = stmt.order_by(EvidenceRow.created_at.desc()).offset(max(0, q.offset))
        stmt = stmt.limit(max(1, min(q.limit, 1000)))
        with self.db.session() as s:
            return [self._from_row(r) for r in s.scalars(stmt)]

    def verify_digest(self, evidence: Evidence) -> bool:
        """Does the stored evidence still hash to the digest the ledger holds?

        The evidence's fields must hash to its digest, and its ``evidence.recorded`` event
        (by position) must be intact, in the signed tree, and name this evidence and this
        digest. A few indexed reads: gates call it for every evidence they rely on."""
        if _digest_of(evidence) != evidence.digest:
            return False
        if evidence.ledger_seq is None:
            return False
        entry = self.ledger.verified_entry(evidence.ledger_seq)
        return (
            entry is not None
            and entry.kind == "evidence.recorded"
            and entry.data.get("evidence_id") == evidence.id
            and entry.data.get("digest") == evidence.digest
        )

    def deep_verify(
        self,
        progress: Callable[[int, int], None] | None = None,
        *,
        witness: str | None = None,
    ) -> VerifyReport:
        """``ledger verify --deep``: the ledger's deep verification, then the evidence table
        against it. Every row must hash to its digest and match its ``evidence.recorded``
        event (digest and position); every ledgered evidence must still have its row."""
        ledgered: dict[str, tuple[int, str]] = {}

        def visit(seq: int, event: dict[str, Any]) -> None:
            if event.get("kind") != "evidence.recorded":
                return
            d = event.get("data")
            if isinstance(d, dict) and isinstance(d.get("evidence_id"), str):
                ledgered[d["evidence_id"]] = (seq, str(d.get("digest")))

        rep = self.ledger.verify(progress, deep=True, witness=witness, visit=visit)
        rep.problems.extend(self._cross_check(ledgered))
        return rep

    def _cross_check(self, ledgered: Mapping[str, tuple[int, str]]) -> Sequence[LedgerProblem]:
        out: list[LedgerProblem] = []
        seen: set[str] = set()

        def problem(eid: str, seq: int | None, message: str) -> None:
            out.append(LedgerProblem("evidence", f"evidence {eid}: {message}", seq=seq))

        with self.db.session() as s:
            rows = s.scalars(
                select(EvidenceRow).order_by(EvidenceRow.id).execution_options(yield_per=2000)
            )
            for r in rows:
                seen.add(r.id)
                where = f"({r.check_id} on {r.subject_kind}:{r.subject_ref})"[:300]
                rec = ledgered.get(r.id)
                if rec is None:
                    problem(
                        r.id,
                        None,
                        f"{where} has no evidence.recorded event in the ledger: the row was "
                        "inserted outside Bastion",
                    )
                    continue
                seq, ledgered_digest = rec
                try:
                    recomputed = _digest_of(self._from_row(r))
                except (ValueError, KeyError, TypeError, AttributeError, InputError):
                    recomputed = None
                if recomputed != r.digest:
                    problem(
                        r.id,
                        seq,
                        f"{where} was edited in the database: its stored fields no longer "
                        "hash to its digest",
                    )
                if r.digest != ledgered_digest:
                    problem(
                        r.id,
                        seq,
                        f"{where}: its digest column differs from the digest ledgered at "
                        f"position {seq}",
                    )
                if r.ledger_seq != seq:
                    problem(
                        r.id,
                        seq,
                        f"{where}: its ledger position column says {r.ledger_seq}, the "
                        f"ledger records it at position {seq}",
                    )
        for eid, (seq, _d) in sorted(ledgered.items(), key=lambda x: x[1][0]):
            if eid not in seen:
                problem(
                    eid,
                    seq,
                    f"ledgered at position {seq}, but its row is missing from the evidence "
                    "table: it was deleted",
                )
        return out


def _digest_of(evidence: Evidence) -> str:
    return evidence_digest(
        _body(
            evidence.id,
            evidence.check_id,
            evidence.subject,
            evidence.verdict,
            evidence.findings,
            evidence.data,
            evidence.blobs,
            evidence.actor,
            evidence.created_at,
        )
    )
