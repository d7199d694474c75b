"""Checks register themselves; running one stores evidence and ledgers its digest."""

from __future__ import annotations

from typing import ClassVar

import pytest
from sqlalchemy import text

from bastion.core.checks import Check, CheckContext, CheckResult, all_checks, get_check, run_check
from bastion.core.errors import CheckError, NotFoundError
from bastion.core.evidence import EvidenceQuery
from bastion.core.types import Finding, Severity, Subject, Verdict
from bastion.core.workspace import Workspace


class _Sample(Check):
    id = "test.sample"
    title = "Sample check"
    subject_kinds = ("model_version",)
    references: ClassVar[tuple[str, ...]] = ("AML.T0010",)

    def run(self, subject: Subject, ctx: CheckContext) -> CheckResult:
        n = int(ctx.params.get("n", 1))
        findings = tuple(
            Finding("test.f", "A finding", Severity.HIGH if i == 0 else Severity.LOW, f"#{i}")
            for i in range(n)
        )
        return CheckResult(
            Verdict.FAIL if n else Verdict.PASS,
            findings,
            {"n": n},
            attachments={"report.txt": b"hello"},
        )


class _Broken(Check):
    id = "test.broken"
    title = "Broken check"

    def run(self, subject: Subject, ctx: CheckContext) -> CheckResult:
        raise RuntimeError("boom")


def test_registry_has_metadata() -> None:
    assert get_check("test.sample") is _Sample
    assert _Sample in all_checks()
    meta = _Sample.metadata()
    assert meta["references"] == ["AML.T0010"] and meta["subject_kinds"] == ["model_version"]
    with pytest.raises(NotFoundError):
        get_check("no.such.check")


def test_bad_check_definitions_are_refused() -> None:
    with pytest.raises(TypeError, match="id"):
        type("NoId", (Check,), {"title": "x", "run": lambda s, a, b: None})
    with pytest.raises(TypeError, match="already taken"):
        type("Dup", (Check,), {"id": "test.sample", "title": "x", "run": lambda s, a, b: None})


def test_run_check_persists_and_ledgers(ws: Workspace) -> None:
    subject = Subject("model_version", "credit-gbm@1", "sha256:" + "ab" * 32)
    ev = run_check(ws, "test.sample", subject, actor="alice", params={"n": 2})
    assert ev.verdict is Verdict.FAIL and len(ev.findings) == 2
    assert ev.max_severity is Severity.HIGH
    stored = ws.evidence.get(ev.id)
    assert stored == ev
    assert ws.blobs.get(stored.blobs[0]) == b"hello"
    assert stored.data["attachments"]["report.txt"] == stored.blobs[0]
    entry = ws.ledger.entries(start=ev.ledger_seq or 0, limit=1)[0]
    assert entry.kind == "evidence.recorded"
    assert entry.data["digest"] == ev.digest and entry.data["evidence_id"] == ev.id
    assert ws.evidence.verify_digest(stored)
    listed = ws.evidence.list(EvidenceQuery(subject_digest=subject.digest))
    assert [e.id for e in listed] == [ev.id]
    assert ws.evidence.list(EvidenceQuery(verdict=Verdict.PASS)) == []


def test_tampered_evidence_no_longer_matches_ledger(ws: Workspace) -> None:
    ev = run_check(ws, "test.sample", Subject("model_version", "m@1"), params={"n": 0})
    assert ws.evidence.verify_digest(ws.evidence.get(ev.id))
    with ws.db.engine.begin() as conn:
        conn.execute(text("UPDATE evidence SET verdict = 'fail' WHERE id = :i"), {"i": ev.id})
    assert not ws.evidence.verify_digest(ws.evidence.get(ev.id))


def test_check_that_raises_is_recorded_as_error(ws: Workspace) -> None:
    ev = run_check(ws, "test.broken", Subject("system", "s"))
    assert ev.verdict is Verdict.ERROR
    assert "boom" in ev.data["error"]


def test_wrong_subject_kind_is_refused(ws: Workspace) -> None:
    before = ws.ledger.size()
    with pytest.raises(CheckError, match="model_version"):
        run_check(ws, "test.sample", Subject("dataset", "d"))
    assert ws.ledger.size() == before
