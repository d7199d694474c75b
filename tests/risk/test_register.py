"""The risk register on SQLite and PostgreSQL: lifecycle, ledger, acceptance, concurrency."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pyotp
import pytest

from bastion.access import Principal, Role, authenticate, create_token
from bastion.core.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError
from bastion.core.evidence import EvidenceQuery
from bastion.core.workspace import Workspace, open_workspace
from bastion.inventory import get_system, import_manifest
from bastion.manifest import SystemManifest, load_manifest
from bastion.risk import (
    ALLOWED_TRANSITIONS,
    RiskStatus,
    accept_risk,
    add_risk,
    assign_tier,
    get_risk,
    latest_tier,
    list_risks,
    parse_scenarios,
    record_simulation,
    register_from_threats,
    risk_id,
    simulate,
    update_risk,
)
from tests.conftest import EXAMPLE_MANIFEST

MANIFEST = load_manifest(EXAMPLE_MANIFEST)


def _add(ws: Workspace, rule: str = "ai.model-extraction") -> str:
    return add_risk(
        ws,
        system_id="credit-scoring",
        rule_id=rule,
        element_id="scoring-api",
        title="Model extraction",
        owner="risk@bank.example",
        scenarios=[f"s.{rule}"],
    ).id


def _simulate_onto(ws: Workspace, rid: str, loss: float) -> None:
    doc = {
        "scenarios": [
            {
                "id": rid,
                "risk": rid,
                "tef": 1,
                "vulnerability": 1,
                "primary_loss": {"response": loss},
            }
        ]
    }
    # Poisson(1) events a year of a constant loss: P90 is 2 x loss.
    res = simulate(parse_scenarios(doc, "t.yaml"), iterations=2000, seed=1)
    assert record_simulation(ws, res, actor="test") == [rid]


def _kinds(ws: Workspace) -> list[str]:
    return [e.kind for e in ws.ledger.entries(limit=1000)]


def test_lifecycle_history_and_ledger(ws: Workspace) -> None:
    rid = _add(ws)
    assert rid == risk_id("credit-scoring", "ai.model-extraction", "scoring-api")
    with pytest.raises(ConflictError, match="already registered"):
        _add(ws)
    r = update_risk(ws, rid, status="analyzed", note="FAIR run", actor="alice")
    assert r.status is RiskStatus.ANALYZED and r.version == 2
    r = update_risk(ws, rid, status="treating", treatment="rate limits on the API", actor="alice")
    assert r.treatment == "rate limits on the API"
    r = update_risk(ws, rid, owner="ciso@bank.example", actor="bob")
    assert r.owner == "ciso@bank.example" and r.status is RiskStatus.TREATING
    full = get_risk(ws, rid)
    assert [(h.from_status, h.to_status) for h in full.history if h.change == "status_changed"] == [
        ("identified", "analyzed"),
        ("analyzed", "treating"),
    ]
    assert [h.version for h in full.history] == [1, 2, 3, 4]
    kinds = _kinds(ws)
    assert (
        kinds.count("risk.status_changed") == 2
        and "risk.created" in kinds
        and "risk.updated" in kinds
    )
    assert ws.ledger.verify().ok
    assert [x.id for x in list_risks(ws, system="credit-scoring", status="treating")] == [rid]
    assert list_risks(ws, status="closed") == []
    with pytest.raises(NotFoundError):
        get_risk(ws, "risk-000000000000")


def test_bad_transitions_are_refused_with_state_unchanged(ws: Workspace) -> None:
    rid = _add(ws)
    before = get_risk(ws, rid)
    size = ws.ledger.size()
    with pytest.raises(ConflictError, match="cannot go from identified to mitigated"):
        update_risk(ws, rid, status="mitigated")
    with pytest.raises(InputError, match="unknown risk status 'done'"):
        update_risk(ws, rid, status="done")
    with pytest.raises(InputError, match="register accept"):
        update_risk(ws, rid, status="accepted")
    with pytest.raises(ConflictError, match="cannot go from identified to accepted"):
        accept_risk(ws, rid, expires=date.today() + timedelta(days=30))
    after = get_risk(ws, rid)
    assert after.status is before.status and after.version == before.version
    assert ws.ledger.size() == size
    # The table is closed: every status has an entry and closed can only reopen.
    assert set(ALLOWED_TRANSITIONS) == set(RiskStatus)
    assert ALLOWED_TRANSITIONS[RiskStatus.CLOSED] == {RiskStatus.IDENTIFIED}


def test_stale_version_is_a_conflict(ws: Workspace) -> None:
    rid = _add(ws)
    update_risk(ws, rid, status="analyzed", expected_version=1)
    with pytest.raises(ConflictError, match="changed since version 1"):
        update_risk(ws, rid, status="closed", expected_version=1)
    assert get_risk(ws, rid).status is RiskStatus.ANALYZED


def test_tier_assignment_is_evidence(ws: Workspace) -> None:
    import_manifest(ws, MANIFEST, actor="test")
    a, ev_id = assign_tier(ws, MANIFEST, actor="test")
    assert a.tier == 2
    ev = ws.evidence.get(ev_id)
    assert (
        ev.check_id == "risk.tier" and ev.data["tier"] == 2 and ev.subject.ref == "credit-scoring"
    )
    assert ev.verdict.value == "pass"  # the example's tag 'high' agrees
    t = latest_tier(ws, "credit-scoring")
    assert t is not None and t.evidence_id == ev_id and t.appetite_p90 == 1_000_000
    assert [e.id for e in ws.evidence.list(EvidenceQuery(check_id="risk.tier"))] == [ev_id]
    # Bound to the inventory's manifest digest; who rated it is recorded.
    assert ev.subject.digest == get_system(ws, "credit-scoring").digest
    assert ev.data["rated_by"] == {"actor": "test", "role": "local", "mfa": False}
    # Rating without the inventory (or with the stored one): the stored manifest is rated.
    a2, ev2 = assign_tier(ws, system="credit-scoring", actor="test")
    assert a2.tier == 2 and ws.evidence.get(ev2).subject.digest == ev.subject.digest


def _approver(ws: Workspace) -> tuple[Principal, Principal]:
    t = create_token(ws, name="approver", role=Role.APPROVER)
    assert t.totp_secret is not None
    with_mfa = authenticate(ws, t.token, pyotp.TOTP(t.totp_secret).now())
    without = authenticate(ws, t.token)
    return with_mfa, without


def test_acceptance_within_and_above_appetite(ws: Workspace) -> None:
    import_manifest(ws, MANIFEST, actor="test")
    assign_tier(ws, MANIFEST, actor="test")  # tier 2, appetite P90 1,000,000
    small, big = _add(ws, "rule.small"), _add(ws, "rule.big")
    for rid, loss in ((small, 10_000.0), (big, 2_000_000.0)):
        _simulate_onto(ws, rid, loss)
        update_risk(ws, rid, status="analyzed")
    until = date.today() + timedelta(days=90)
    # Within appetite: the operator may accept, with an expiry.
    r = accept_risk(ws, small, expires=until, note="low", actor="cli")
    assert (
        r.status is RiskStatus.ACCEPTED and r.accepted_by == "cli" and r.accepted_until is not None
    )
    # Above appetite: refused without an approver, with an approver lacking MFA, or a non-approver.
    mfa, no_mfa = _approver(ws)
    eng = create_token(ws, name="eng", role=Role.ENGINEER)
    for who in (None, no_mfa, authenticate(ws, eng.token)):
        with pytest.raises(PermissionDeniedError, match="exceeds the tier 2 appetite"):
            accept_risk(ws, big, expires=until, approver=who)
    assert get_risk(ws, big).status is RiskStatus.ANALYZED
    # Expiry: in the future, within the tier's longest acceptance (180 days for tier 2).
    with pytest.raises(InputError, match="not in the future"):
        accept_risk(ws, big, expires=date.today() - timedelta(days=1), approver=mfa)
    with pytest.raises(InputError, match="longer than tier 2 allows"):
        accept_risk(ws, big, expires=date.today() + timedelta(days=400), approver=mfa)
    r = accept_risk(ws, big, expires=until, approver=mfa, note="board decision")
    assert r.status is RiskStatus.ACCEPTED and r.accepted_by == mfa.actor
    ev = [
        e
        for e in ws.ledger.entries(limit=1000, kind="risk.status_changed")
        if e.data.get("risk_id") == big
    ]
    assert ev[-1].data["over_appetite"] is True and ev[-1].actor == mfa.actor
    # Leaving acceptance clears it.
    r = update_risk(ws, big, status="treating")
    assert r.accepted_by is None and r.accepted_until is None


def test_acceptance_fails_closed_without_tier_or_simulation(ws: Workspace) -> None:
    rid = _add(ws)
    update_risk(ws, rid, status="analyzed")
    with pytest.raises(PermissionDeniedError, match="no simulation summary"):
        accept_risk(ws, rid, expires=date.today() + timedelta(days=10))
    _simulate_onto(ws, rid, 1.0)
    with pytest.raises(PermissionDeniedError, match="no tier assigned"):
        accept_risk(ws, rid, expires=date.today() + timedelta(days=10))
    mfa, _ = _approver(ws)
    r = accept_risk(ws, rid, expires=datetime.now(UTC) + timedelta(days=10), approver=mfa)
    assert r.status is RiskStatus.ACCEPTED and not r.acceptance_expired


def test_register_from_threats_is_idempotent(ws: Workspace) -> None:
    findings = [
        {
            "id": "t1",
            "rule_id": "ai.model-extraction",
            "title": "Extraction",
            "stride": ["information_disclosure"],
            "element_id": "scoring-api",
            "element_kind": "inference_endpoint",
            "severity": "high",
            "atlas": [],
            "nist_class": "privacy",
            "mitigated": False,
            "suppressed": False,
            "data_assets": [],
        },
        {
            "id": "t2",
            "rule_id": "ai.evasion",
            "title": "Evasion",
            "stride": ["tampering"],
            "element_id": "scoring-api",
            "element_kind": "inference_endpoint",
            "severity": "high",
            "atlas": [],
            "nist_class": "evasion",
            "mitigated": True,
            "suppressed": False,
            "data_assets": [],
        },
    ]
    first = register_from_threats(ws, MANIFEST, findings)
    again = register_from_threats(ws, MANIFEST, findings)
    assert (
        [r.id for r in first]
        == [r.id for r in again]
        == [risk_id("credit-scoring", "ai.model-extraction", "scoring-api")]
    )
    assert first[0].owner == MANIFEST.system.owner and first[0].scenarios == (
        "ai.model-extraction.scoring-api",
    )
    assert len(list_risks(ws)) == 1


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_concurrent_status_changes_do_not_double_apply(ws: Workspace) -> None:
    rid = _add(ws)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def change(to: str) -> None:
        w = open_workspace(ws.settings)
        try:
            barrier.wait()
            update_risk(w, rid, status=to, expected_version=1, actor=f"worker-{to}")
            outcomes.append("ok")
        except ConflictError:
            outcomes.append("conflict")
        finally:
            w.close()

    threads = [threading.Thread(target=change, args=(s,)) for s in ("analyzed", "closed")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "ok"]
    r = get_risk(ws, rid)
    assert r.version == 2 and len([h for h in r.history if h.change == "status_changed"]) == 1
    assert _kinds(ws).count("risk.status_changed") == 1
    assert ws.ledger.verify().ok


def _doctored() -> SystemManifest:
    """The example with the tier criteria an attacker wants: no decision impact, public data,
    no regulation: tier 4, appetite far above any risk here."""
    doc = MANIFEST.model_dump(mode="json", by_alias=True, exclude_none=True)
    doc["system"]["decision_impact"] = ["none"]
    doc["system"]["data_sensitivity"] = "public"
    doc["system"]["regulatory_scope"] = []
    doc["system"].get("tags", {}).pop("risk-tier", None)
    return SystemManifest.model_validate(doc)


def test_finding_04_doctored_tier_does_not_lift_the_appetite(ws: Workspace) -> None:
    """An engineer's tier-4 rating of a doctored manifest (or any rating that is not of the
    inventory's current manifest by a privileged rater) never sets the appetite: accepting
    a 2.3M P90 risk still needs an approver with MFA."""
    from bastion.core.types import Subject, Verdict
    from bastion.risk import rate_system, trusted_tier

    import_manifest(ws, MANIFEST, actor="test")
    doctored = _doctored()
    assert rate_system(doctored).tier == 4
    eng = authenticate(ws, create_token(ws, name="eng", role=Role.ENGINEER).token)
    # The API path refuses an engineer outright, and a doctored manifest from anyone.
    with pytest.raises(PermissionDeniedError, match="may not rate risk tiers"):
        assign_tier(ws, doctored, principal=eng)
    mfa, no_mfa = _approver(ws)
    with pytest.raises(PermissionDeniedError, match="multi-factor"):
        assign_tier(ws, system="credit-scoring", principal=no_mfa)
    with pytest.raises(ConflictError, match="not the inventory's current manifest"):
        assign_tier(ws, doctored, principal=mfa)
    # Evidence an engineer could still produce: a rating of the doctored manifest (the
    # local CLI rates drafts) and one of the current digest recorded under their token.
    assign_tier(ws, doctored, actor="cli")
    a4 = rate_system(doctored)
    ws.evidence.record(
        check_id="risk.tier",
        subject=Subject("system", "credit-scoring", get_system(ws, "credit-scoring").digest),
        verdict=Verdict.PASS,
        data=a4.to_dict(),
        actor=eng.actor,
    )
    ev, notes = trusted_tier(ws, "credit-scoring")
    assert ev is None
    assert any("only the local administrator or an admin/approver" in n for n in notes)
    assert any("another manifest than the inventory's current" in n for n in notes)
    assert latest_tier(ws, "credit-scoring") is None
    rid = _add(ws, "rule.huge")
    _simulate_onto(ws, rid, 2_300_000.0)
    update_risk(ws, rid, status="analyzed")
    until = date.today() + timedelta(days=30)
    for who in (None, eng, no_mfa):
        with pytest.raises(PermissionDeniedError, match="no tier assigned"):
            accept_risk(ws, rid, expires=until, approver=who)
    # A privileged rating of the stored manifest: tier 2, appetite 1M; 2.3M is above it,
    # so the acceptance still needs the approver's MFA.
    a, ev_id = assign_tier(ws, system="credit-scoring", principal=mfa)
    assert a.tier == 2 and ws.evidence.get(ev_id).data["rated_by"]["mfa"] is True
    t = latest_tier(ws, "credit-scoring")
    assert t is not None and t.evidence_id == ev_id
    for who in (None, eng, no_mfa):
        with pytest.raises(PermissionDeniedError, match="exceeds the tier 2 appetite"):
            accept_risk(ws, rid, expires=until, approver=who)
    r = accept_risk(ws, rid, expires=until, approver=mfa)
    assert r.status is RiskStatus.ACCEPTED and r.accepted_by == mfa.actor
    # A re-import that changes the manifest makes the rating stale: no tier again.
    changed = MANIFEST.model_dump(mode="json", by_alias=True, exclude_none=True)
    changed["system"]["description"] = "changed"
    import_manifest(ws, SystemManifest.model_validate(changed), actor="test")
    assert latest_tier(ws, "credit-scoring") is None
