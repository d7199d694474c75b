"""Registry: register, gate, approvals, promotion, rollback, bad input (both backends)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bastion.access import Principal, Role
from bastion.core.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError
from bastion.core.types import Severity, Verdict
from bastion.core.workspace import Workspace
from bastion.governance import create_change_request, vote
from bastion.registry import (
    Stage,
    approve,
    evaluate_gate,
    get_version,
    hash_model_dir,
    history,
    import_mlflow,
    list_models,
    parse_policy,
    pending_promotions,
    promote,
    register_model,
    register_rollback_hook,
    registry_demo,
    rollback,
    rollback_to_last_good,
)
from tests.registry._helpers import (
    GOVERNANCE,
    POLICY,
    approver,
    critical_dependency_evidence,
    good_evidence,
    model_dir,
    ref_of,
    setup,
    sign_and_verify,
    threat_model,
)


def _register(ws: Workspace, tmp_path: Path, content: bytes = b"weights-v1") -> object:
    return register_model(
        ws,
        "credit-gbm",
        model_dir(tmp_path, content),
        system="credit-scoring",
        asset="credit-gbm",
        authors=["dana"],
        actor="dana",
    )


def _clear(ws: Workspace, v, sec: Principal, voters: dict[str, Principal]) -> None:  # type: ignore[no-untyped-def]
    good_evidence(ws, v)
    approve(ws, "credit-gbm", v.version, sec)
    cr = create_change_request(
        ws,
        title="promote",
        target=v.ref,
        target_digest=v.digest,
        board_id="cab",
        requested_by="dana",
    )
    for p in ("lee", "bo"):
        vote(ws, cr.id, voters[p], "approve")
    vote(ws, cr.id, sec, "approve")


def test_digest_is_stable_and_content_addressed(tmp_path: Path) -> None:
    a = hash_model_dir(model_dir(tmp_path / "a"))
    b = hash_model_dir(model_dir(tmp_path / "b"))
    c = hash_model_dir(model_dir(tmp_path / "c", b"other"))
    assert a.digest == b.digest != c.digest
    assert [f["path"] for f in a.files] == ["metadata.json", "model.bin"]
    with pytest.raises(InputError, match="does not exist"):
        hash_model_dir(tmp_path / "nope")


def test_register_list_and_duplicate(ws: Workspace, tmp_path: Path) -> None:
    v = _register(ws, tmp_path)
    assert v.version == "1" and v.stage is Stage.DEVELOPMENT and "dana" in v.authors
    with pytest.raises(ConflictError, match="already has this content"):
        _register(ws, tmp_path)
    v2 = _register(ws, tmp_path, b"weights-v2")
    assert v2.version == "2"
    (m,) = list_models(ws)
    assert [x.version for x in m.versions] == ["1", "2"]
    assert [t.action for t in history(ws, "credit-gbm")] == ["register", "register"]
    with pytest.raises(InputError, match="model name"):
        register_model(ws, "Bad Name", tmp_path)


def test_refusal_lists_every_unmet_requirement_and_changes_nothing(
    ws: Workspace, tmp_path: Path
) -> None:
    setup(ws)
    v = _register(ws, tmp_path)
    size = ws.ledger.size()
    res = promote(ws, "credit-gbm", "1", "production", actor="dana")
    assert not res.promoted and res.gate is not None
    unmet = {r.id for r in res.gate.unmet}
    assert unmet == {
        "evidence:integrity.signature",
        "evidence:integrity.scan",
        "evidence:integrity.dependencies",
        "evidence:threats.model:system",
        "approval:security_signoff",
        "approval:cab",
    }
    assert all(r.remedy for r in res.gate.unmet)
    assert get_version(ws, "credit-gbm", "1").stage is Stage.DEVELOPMENT
    kinds = [e.kind for e in ws.ledger.entries(start=size, limit=10)]
    assert kinds == ["registry.promotion_requested", "registry.promotion_refused"]
    assert v.digest


def test_full_gate_promotes_and_records_evidence(ws: Workspace, tmp_path: Path) -> None:
    setup(ws)
    v = _register(ws, tmp_path)
    sec = approver(ws, "sam")
    voters = {p: approver(ws, p) for p in ("lee", "bo")}
    _clear(ws, v, sec, voters)
    gate = evaluate_gate(ws, "credit-gbm", "1", "production")
    assert gate.satisfied, [r.to_dict() for r in gate.unmet]
    assert gate.tier == 1
    res = promote(ws, "credit-gbm", "1", "production", actor="dana")
    assert res.promoted
    assert get_version(ws, "credit-gbm", "1").stage is Stage.PRODUCTION
    (event,) = ws.ledger.entries(kind="registry.promote", limit=5)
    assert len(event.data["evidence_ids"]) == 4 and event.data["approval_ids"]
    with pytest.raises(ConflictError, match="already in production"):
        promote(ws, "credit-gbm", "1", "production", actor="dana")


def test_thresholds_severity_and_signers(ws: Workspace, tmp_path: Path) -> None:
    setup(ws)
    v = _register(ws, tmp_path)
    # A signature that verifies, but by a signer the gate policy does not allow.
    good_evidence(ws, v, identity="mallory@evil.example")
    critical_dependency_evidence(ws, v)
    gate = evaluate_gate(ws, "credit-gbm", "1")
    by_id = {r.id: r for r in gate.requirements}
    assert not by_id["evidence:integrity.signature"].satisfied
    assert "valid_signers intersects" in by_id["evidence:integrity.signature"].reason
    assert "cert:mallory@evil.example" in by_id["evidence:integrity.signature"].reason
    assert "critical" in by_id["evidence:integrity.dependencies"].reason
    assert by_id["evidence:integrity.scan"].satisfied
    assert by_id["evidence:threats.model:system"].satisfied
    later = evaluate_gate(ws, "credit-gbm", "1", now=datetime.now(UTC) + timedelta(days=40))
    assert (
        "older than 30d" in {r.id: r for r in later.requirements}["evidence:integrity.scan"].reason
    )


def test_real_evidence_satisfies_every_evidence_requirement(ws: Workspace, tmp_path: Path) -> None:
    setup(ws)
    v = _register(ws, tmp_path)
    ids = good_evidence(ws, v)
    sig = ws.evidence.get(ids[0])
    assert sig.data["valid_signers"] == ["cert:release@bank.example"]
    threats = ws.evidence.get(ids[3])
    # Accepted (suppressed) high threats are in the findings but are not open.
    assert threats.data["summary"]["open_by_severity"]["high"] == 0
    assert any(f.severity is Severity.HIGH for f in threats.findings)
    gate = evaluate_gate(ws, "credit-gbm", "1")
    ev = [r for r in gate.requirements if r.kind == "evidence"]
    assert len(ev) == 4 and all(r.satisfied for r in ev), [r.reason for r in ev]


def test_open_high_threat_blocks_the_gate(ws: Workspace, tmp_path: Path) -> None:
    setup(ws)
    v = _register(ws, tmp_path)
    good_evidence(ws, v)
    threat_model(ws, accept_high=False)  # the newest threat model: highs are open again
    r = {x.id: x for x in evaluate_gate(ws, "credit-gbm", "1").requirements}
    res = r["evidence:threats.model:system"]
    assert not res.satisfied and "open_by_severity" in res.reason


def test_retraining_makes_evidence_stale(ws: Workspace, tmp_path: Path) -> None:
    setup(ws)
    v1 = _register(ws, tmp_path)
    good_evidence(ws, v1)
    v2 = _register(ws, tmp_path, b"retrained")
    gate = evaluate_gate(ws, "credit-gbm", v2.version)
    by_id = {x.id: x for x in gate.requirements}
    for kind in ("integrity.signature", "integrity.scan", "integrity.dependencies"):
        r = by_id[f"evidence:{kind}"]
        assert not r.satisfied
        assert r.reason.startswith("stale:"), r.reason
        assert f"digest {v1.digest[:19]}… of version 1" in r.reason
    # The system-scope threat model is not about the model's digest: still current.
    assert by_id["evidence:threats.model:system"].satisfied


def test_approval_refusals_leave_state_unchanged(ws: Workspace, tmp_path: Path) -> None:
    setup(ws)
    _register(ws, tmp_path)
    sam = approver(ws, "sam")
    no_mfa = Principal(sam.token_id, "sam", Role.APPROVER, mfa_verified=False)
    with pytest.raises(PermissionDeniedError, match="multi-factor"):
        approve(ws, "credit-gbm", "1", no_mfa)
    engineer = approver(ws, "dana", Role.ENGINEER)
    with pytest.raises(PermissionDeniedError, match="may not approve"):
        approve(ws, "credit-gbm", "1", engineer)
    dana = Principal("x", "dana", Role.APPROVER, mfa_verified=True)
    with pytest.raises(PermissionDeniedError, match="role"):
        approve(ws, "credit-gbm", "1", dana)  # dana is data_science, not security
    lee = approver(ws, "lee")
    with pytest.raises(PermissionDeniedError, match="needs security"):
        approve(ws, "credit-gbm", "1", lee)
    with pytest.raises(NotFoundError, match="no version or alias '9'"):
        approve(ws, "credit-gbm", "9", sam)
    with pytest.raises(InputError, match="asks for no 'legal_review'"):
        approve(ws, "credit-gbm", "1", sam, kind="legal_review")
    size = ws.ledger.size()
    approve(ws, "credit-gbm", "1", sam)
    with pytest.raises(ConflictError, match="already approved"):
        approve(ws, "credit-gbm", "1", sam)
    assert ws.ledger.size() == size + 1


def test_author_and_requester_cannot_approve(ws: Workspace, tmp_path: Path) -> None:
    setup(ws)
    register_model(ws, "credit-gbm", model_dir(tmp_path), system="credit-scoring", actor="sam")
    sam = approver(ws, "sam")
    with pytest.raises(PermissionDeniedError, match="authored"):
        approve(ws, "credit-gbm", "1", sam)
    register_model(ws, "other", model_dir(tmp_path, b"o"), system="credit-scoring", actor="dana")
    promote(ws, "other", "1", "production", actor="sam")  # sam requests it
    with pytest.raises(PermissionDeniedError, match="requested the promotion"):
        approve(ws, "other", "1", sam)


def test_expired_approval_does_not_count(ws: Workspace, tmp_path: Path) -> None:
    setup(ws)
    _register(ws, tmp_path)
    sam = approver(ws, "sam")
    approve(ws, "credit-gbm", "1", sam, now=datetime.now(UTC) - timedelta(days=20))
    r = {x.id: x for x in evaluate_gate(ws, "credit-gbm", "1").requirements}
    assert not r["approval:security_signoff"].satisfied
    assert "expired" in r["approval:security_signoff"].reason
    approve(ws, "credit-gbm", "1", sam)  # renewing an expired approval is allowed
    r = {x.id: x for x in evaluate_gate(ws, "credit-gbm", "1").requirements}
    assert r["approval:security_signoff"].satisfied


def test_unknown_version_and_model(ws: Workspace, tmp_path: Path) -> None:
    setup(ws)
    with pytest.raises(NotFoundError, match="no model 'ghost'"):
        promote(ws, "ghost", "1", "production", actor="dana")
    _register(ws, tmp_path)
    size = ws.ledger.size()
    with pytest.raises(NotFoundError, match="no version or alias '7'"):
        promote(ws, "credit-gbm", "7", "production", actor="dana")
    assert ws.ledger.size() == size


def test_policy_with_unknown_evidence_kind_is_refused() -> None:
    text = POLICY.read_text().replace("kind: integrity.scan", "kind: integrity.scann", 1)
    with pytest.raises(InputError, match=r"unknown evidence kind 'integrity\.scann'"):
        parse_policy(text, "gate-policy.yaml")
    with pytest.raises(InputError, match="verdicts"):
        parse_policy(
            POLICY.read_text().replace("verdicts: [pass, warn, fail]", "verdicts: [error]", 1)
        )
    with pytest.raises(InputError, match=r"not 'data\.FIELD OP VALUE'"):
        parse_policy(POLICY.read_text().replace("signers intersects", "signers ~~", 1))
    # max_severity on threats.model would count accepted (suppressed) threats.
    with pytest.raises(InputError, match=r"max_severity on threats\.model would count accepted"):
        parse_policy(
            POLICY.read_text().replace(
                "            scope: system\n",
                "            scope: system\n            max_severity: medium\n",
                1,
            )
        )


def test_rollback_rules_and_hook(ws: Workspace, tmp_path: Path) -> None:
    setup(ws)
    sec = approver(ws, "sam")
    voters = {p: approver(ws, p) for p in ("lee", "bo")}
    v1 = _register(ws, tmp_path)
    _clear(ws, v1, sec, voters)
    assert promote(ws, "credit-gbm", "1", "production", actor="dana").promoted
    v2 = _register(ws, tmp_path, b"retrained")
    with pytest.raises(ConflictError, match="never passed"):
        rollback(ws, "credit-gbm", "2", reason="x", actor="sam")
    _clear(ws, v2, sec, voters)
    assert promote(ws, "credit-gbm", "2", "production", actor="dana").promoted
    assert get_version(ws, "credit-gbm", "1").stage is Stage.ARCHIVED
    with pytest.raises(InputError, match="reason"):
        rollback(ws, "credit-gbm", "1", reason=" ", actor="sam")
    # A signature that no longer verifies blocks the rollback: v1's signature is now
    # checked by a verifier that does not trust its signer (a revoked identity, say).
    bad = sign_and_verify(ws, Path(str(v1.source)), ref_of(v1), allowed="other@bank.example")
    assert bad.verdict is Verdict.FAIL
    with pytest.raises(ConflictError, match="no longer verifies"):
        rollback(ws, "credit-gbm", "1", reason="incident", actor="sam")
    good_evidence(ws, v1)
    seen = []
    remove = register_rollback_hook(seen.append)
    try:
        t = rollback_to_last_good(ws, "credit-gbm", reason="drift alarm", actor="incident-bot")
    finally:
        remove()
    assert t.version == "1" and t.action == "rollback" and bad.id not in t.evidence_ids
    assert [x.version for x in seen] == ["1"]
    assert get_version(ws, "credit-gbm", "2").stage is Stage.ARCHIVED
    (ev,) = ws.ledger.entries(kind="registry.rollback", limit=5)
    assert ev.data["reason"] == "drift alarm" and ev.actor == "incident-bot"
    assert ev.data["reverified"] is True  # the signature was checked again, on the files
    # The version rolled away from is treated as compromised: its approvals and board
    # decision no longer count, it is not 'ready' in the queue, nor a rollback target.
    g2 = {r.id: r for r in evaluate_gate(ws, "credit-gbm", "2").requirements}
    assert not g2["approval:security_signoff"].satisfied
    assert "predates the rollback" in g2["approval:security_signoff"].reason
    assert not g2["approval:cab"].satisfied and "no longer counts" in g2["approval:cab"].reason
    queued = {(g.model, g.version): g for g in pending_promotions(ws)}
    assert queued[("credit-gbm", "2")].satisfied is False
    with pytest.raises(ConflictError, match="never passed"):
        rollback(ws, "credit-gbm", "2", reason="back again", actor="sam")
    approve(ws, "credit-gbm", "2", sec)  # a fresh approval is accepted
    g2 = {r.id: r for r in evaluate_gate(ws, "credit-gbm", "2").requirements}
    assert g2["approval:security_signoff"].satisfied


def test_rollback_reverifies_the_files(ws: Workspace, tmp_path: Path) -> None:
    setup(ws)
    sec = approver(ws, "sam")
    voters = {p: approver(ws, p) for p in ("lee", "bo")}
    v1 = _register(ws, tmp_path)
    _clear(ws, v1, sec, voters)
    assert promote(ws, "credit-gbm", "1", "production", actor="dana").promoted
    v2 = _register(ws, tmp_path, b"retrained")
    _clear(ws, v2, sec, voters)
    assert promote(ws, "credit-gbm", "2", "production", actor="dana").promoted
    # v1's stored evidence still passes, but its weights were tampered with on disk.
    (Path(str(v1.source)) / "model.bin").write_bytes(b"backdoored")
    size = ws.ledger.size()
    with pytest.raises(ConflictError, match="no longer verifies against its files"):
        rollback(ws, "credit-gbm", "1", reason="incident", actor="sam")
    assert get_version(ws, "credit-gbm", "2").stage is Stage.PRODUCTION
    # The failed verification is itself evidence (in the ledger); no stage changed.
    (e,) = ws.ledger.entries(start=size, limit=5)
    assert e.kind == "evidence.recorded"
    assert ws.evidence.get(e.data["evidence_id"]).verdict is Verdict.FAIL


def test_mlflow_import(ws: Workspace, tmp_path: Path) -> None:
    run = tmp_path / "mlruns" / "1" / "abc123"
    art = run / "artifacts" / "model"
    art.mkdir(parents=True)
    (art / "MLmodel").write_text(
        "artifact_path: model\nflavors:\n  sklearn: {pickled_model: model.pkl}\n"
        "  python_function: {loader_module: mlflow.sklearn}\nrun_id: abc123\n"
        "utc_time_created: '2025-01-01 00:00:00'\n"
    )
    (art / "model.pkl").write_bytes(b"\x80\x04not-loaded")
    (run / "meta.yaml").write_text("run_id: abc123\nexperiment_id: '1'\nuser_id: dana\n")
    (run / "params").mkdir()
    (run / "params" / "max_depth").write_text("6")
    (run / "tags").mkdir()
    (run / "tags" / "dataset").write_text("features.csv")
    reg = tmp_path / "mlruns" / "models" / "Credit-GBM" / "version-3"
    reg.mkdir(parents=True)
    (reg / "meta.yaml").write_text(
        f"name: credit-gbm\nversion: 3\ncurrent_stage: Production\nsource: {art}\n"
    )
    (reg.parent / "meta.yaml").write_text(
        "name: credit-gbm\naliases:\n- {alias: champion, version: '3'}\n"
        "- {alias: old, version: '2'}\n"
    )
    (reg.parent / "aliases").mkdir()
    (reg.parent / "aliases" / "audited").write_text("3")
    from bastion.integrity import record_pki_init, record_pki_issue

    record_pki_init(ws, actor="test")
    cert = record_pki_issue(ws, "release@bank.example", hours=1, out_dir=tmp_path / "c")
    v = import_mlflow(
        ws,
        reg,
        system="credit-scoring",
        tier=2,
        authors=["rui"],
        datasets=["applicants.parquet"],
        sign_key=cert.key_path,
        certificate=cert.cert_path,
        chain=[cert.chain_path],
        principal=approver(ws, "ops", Role.ADMIN),
    )
    assert (v.model, v.version, v.tier) == ("credit-gbm", "3", 2)
    assert v.provenance["mlflow"]["run_id"] == "abc123"
    assert v.provenance["mlflow"]["params"] == {"max_depth": "6"}
    assert set(v.authors) >= {"dana", "rui"}
    assert v.datasets == ("features.csv", "applicants.parquet")
    assert {f["path"] for f in v.files} == {"MLmodel", "model.pkl"}
    # MLflow aliases of this version become registry aliases (applied by a privileged
    # caller: the new version passed no gate); its stage is provenance only.
    assert set(v.aliases) == {"audited", "champion"}
    assert v.stage is Stage.DEVELOPMENT
    assert v.provenance["mlflow"]["current_stage"] == "Production"
    # The files were signed with the integrity room's signing, for this very digest.
    assert (art / "model.sig").is_file()
    sign = ws.evidence.get(v.provenance["signed"]["evidence"])
    assert sign.check_id == "integrity.sign" and sign.subject.digest == v.digest
    with pytest.raises(InputError, match="not an MLflow"):
        import_mlflow(ws, tmp_path)


def test_demo_sequence_end_to_end(ws: Workspace, tmp_path: Path) -> None:
    from bastion.inventory import import_manifest
    from bastion.manifest import load_manifest
    from tests.conftest import EXAMPLE_MANIFEST

    import_manifest(ws, load_manifest(EXAMPLE_MANIFEST), source="test", actor="test")
    rep = registry_demo(
        ws,
        model_dir=model_dir(tmp_path),
        retrained_dir=model_dir(tmp_path, b"retrained"),
        policy_file=POLICY,
        governance_file=GOVERNANCE,
        produce_evidence=lambda w, v: good_evidence(w, v) and None,
        tier=1,
    )
    steps = [s["step"] for s in rep.steps]
    assert steps == [
        "policy",
        "registered",
        "refused",
        "cleared",
        "promoted",
        "retrained_refused",
        "cleared",
        "promoted",
        "rolled_back",
    ]
    assert rep.steps[2]["promoted"] is False and len(rep.steps[2]["unmet"]) == 6
    assert rep.steps[-1]["step"] == "rolled_back" and rep.steps[-1]["to"] == "1"
    kinds = {e.kind for e in ws.ledger.entries(limit=500)}
    assert {
        "registry.register",
        "registry.promotion_refused",
        "registry.approved",
        "governance.vote_cast",
        "governance.change_request_decided",
        "registry.promote",
        "registry.archive",
        "registry.rollback",
    } <= kinds
    assert ws.ledger.verify().ok


@pytest.mark.parametrize("what", ["promote", "approve"])
def test_concurrent_promotions_and_approvals_never_double_apply(
    ws: Workspace, tmp_path: Path, what: str
) -> None:
    setup(ws)
    v = _register(ws, tmp_path)
    sec = approver(ws, "sam")
    if what == "promote":
        _clear(ws, v, sec, {p: approver(ws, p) for p in ("lee", "bo")})
    results: list[str] = []
    barrier = threading.Barrier(6)

    def worker() -> None:
        barrier.wait()
        try:
            if what == "promote":
                results.append(
                    "ok"
                    if promote(ws, "credit-gbm", "1", "production", actor="dana").promoted
                    else "no"
                )
            else:
                approve(ws, "credit-gbm", "1", sec)
                results.append("ok")
        except ConflictError:
            results.append("conflict")

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["conflict"] * 5 + ["ok"]
    kind = "registry.promote" if what == "promote" else "registry.approved"
    assert len(ws.ledger.entries(kind=kind, limit=50)) == 1


def test_board_vote_of_an_author_does_not_count(ws: Workspace, tmp_path: Path) -> None:
    setup(ws)
    md = model_dir(tmp_path)
    digest = hash_model_dir(md).digest
    voters = {p: approver(ws, p) for p in ("sam", "lee", "bo")}
    # A change request decided before the version was registered with bo (the business
    # member of the CAB) among its authors: at the gate, bo's vote is left out.
    early = create_change_request(
        ws, title="promote", target="credit-gbm@1", target_digest=digest, board_id="cab",
        requested_by="dana",
    )  # fmt: skip
    for p in ("sam", "lee", "bo"):
        early = vote(ws, early.id, voters[p], "approve")
    assert early.status.value == "approved"
    v = register_model(
        ws,
        "credit-gbm",
        md,
        system="credit-scoring",
        asset="credit-gbm",
        authors=["dana", "bo"],
        actor="dana",
    )
    good_evidence(ws, v)
    approve(ws, "credit-gbm", "1", voters["sam"])
    r = {x.id: x for x in evaluate_gate(ws, "credit-gbm", "1").requirements}["approval:cab"]
    assert not r.satisfied
    assert "with the vote of bo, who authored credit-gbm@1" in r.reason
    assert "missing role(s) business" in r.reason
    assert not promote(ws, "credit-gbm", "1", "production", actor="dana").promoted
    # Now that the version exists, bo cannot vote on a change request about it at all.
    cr = create_change_request(
        ws, title="again", target=v.ref, target_digest=v.digest, board_id="cab",
        requested_by="dana",
    )  # fmt: skip
    size = ws.ledger.size()
    with pytest.raises(PermissionDeniedError, match="bo authored credit-gbm@1 and cannot vote"):
        vote(ws, cr.id, voters["bo"], "approve")
    assert ws.ledger.size() == size
    cr = vote(ws, cr.id, voters["sam"], "approve")
    # bo was the only business member and may not vote: the request can never pass.
    assert cr.status.value == "rejected"


def test_rollback_reverifies_a_short_lived_certificate_after_it_expired(
    ws: Workspace, tmp_path: Path
) -> None:
    """Signing certificates live hours; a rollback weeks later still verifies the signature
    at the certificate's issuance time (only the CAs are time-checked), as model-signing."""
    import time

    setup(ws)
    sec = approver(ws, "sam")
    voters = {p: approver(ws, p) for p in ("lee", "bo")}
    v1 = _register(ws, tmp_path)
    _clear(ws, v1, sec, voters)
    # Re-sign v1 with a certificate valid for about two seconds (the newest evidence).
    sign_and_verify(ws, Path(str(v1.source)), ref_of(v1), hours=2 / 3600)
    assert promote(ws, "credit-gbm", "1", "production", actor="dana").promoted
    v2 = _register(ws, tmp_path, b"retrained")
    _clear(ws, v2, sec, voters)
    assert promote(ws, "credit-gbm", "2", "production", actor="dana").promoted
    time.sleep(3)  # the signing certificate has expired
    t = rollback(ws, "credit-gbm", "1", reason="drift", actor="sam")
    fresh = ws.evidence.get(t.evidence_ids[0])
    assert fresh.check_id == "integrity.signature" and fresh.verdict is Verdict.PASS
    assert fresh.data["valid_signers"] == ["cert:release@bank.example"]
