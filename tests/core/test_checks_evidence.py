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


def _rec(ws: Workspace, verdict: Verdict = Verdict.FAIL) -> str:
    return ws.evidence.record(
        check_id="test.sample",
        subject=Subject("model_version", "m@1", "sha256:" + "cd" * 32),
        verdict=verdict,
        data={"n": 1},
        actor="alice",
    ).id


def test_finding_08_deep_verify_cross_checks_the_evidence_table(ws: Workspace) -> None:
    """``ledger verify --deep``: every row's recomputed digest equals the ledgered one, and
    every ledgered evidence has its row (edits, deletions and insertions are named)."""
    ids = [_rec(ws) for _ in range(4)]
    assert ws.evidence.deep_verify().ok

    def run(sql: str, **p: object) -> None:
        with ws.db.engine.begin() as conn:
            conn.execute(text(sql), p)

    run("UPDATE evidence SET verdict = 'pass' WHERE id = :i", i=ids[0])
    run("UPDATE evidence SET digest = :d WHERE id = :i", d="sha256:" + "00" * 32, i=ids[1])
    run("DELETE FROM evidence WHERE id = :i", i=ids[2])
    run(
        "INSERT INTO evidence (id, check_id, subject_kind, subject_ref, subject_digest, verdict,"
        " max_severity, findings, data, blobs, digest, actor, created_at, ledger_seq)"
        " SELECT 'forged-0000', check_id, subject_kind, subject_ref, subject_digest, 'pass',"
        " max_severity, findings, data, blobs, digest, actor, created_at, ledger_seq"
        " FROM evidence WHERE id = :i",
        i=ids[3],
    )
    assert ws.ledger.verify().ok  # the ledger itself is intact
    rep = ws.evidence.deep_verify()
    by_id: dict[str, list[str]] = {}
    for p in rep.problems:
        assert p.kind == "evidence"
        eid = p.message.split(":", 1)[0].removeprefix("evidence ")
        by_id.setdefault(eid, []).append(p.message)
    assert set(by_id) == {ids[0], ids[1], ids[2], "forged-0000"}
    assert "edited in the database" in by_id[ids[0]][0]
    assert any("differs from the digest ledgered" in m for m in by_id[ids[1]])
    assert "row is missing" in by_id[ids[2]][0]
    assert "inserted outside Bastion" in by_id["forged-0000"][0]
    assert not ws.evidence.verify_digest(ws.evidence.get("forged-0000"))


def test_finding_08_cli_deep_verify_names_an_edited_row(
    sqlite_ws: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from bastion.cli.main import main

    ws = sqlite_ws
    eid = _rec(ws)
    with ws.db.engine.begin() as conn:
        conn.execute(text("UPDATE evidence SET verdict = 'pass' WHERE id = :i"), {"i": eid})
    home = str(ws.settings.home)
    capsys.readouterr()
    assert main(["--home", home, "ledger", "verify", "--format", "json"]) == 0
    capsys.readouterr()
    rc = main(["--home", home, "ledger", "verify", "--deep", "--format", "json"])
    rep = json.loads(capsys.readouterr().out)
    assert rc == 1 and [p["kind"] for p in rep["problems"]] == ["evidence"]
    assert eid in rep["problems"][0]["message"]
