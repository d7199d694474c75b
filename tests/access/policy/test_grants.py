"""Just-in-time grants on a real database, approved with real TOTP codes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from bastion.access import Principal, Role, authenticate, create_token
from bastion.access.interface import (
    Action,
    AuthMethod,
    Identity,
    IdentityKind,
    LogLevel,
    ResourceKind,
    ResourceRef,
)
from bastion.access.policy import (
    Baselines,
    Grant,
    GrantIndex,
    PolicyEngine,
    access_review,
    approve_grant,
    bundled_policy_dir,
    deny_grant,
    engine_for,
    get_grant,
    least_privilege_report,
    list_grants,
    request_grant,
    revoke_grant,
)
from bastion.access.policy._rows import GrantRow
from bastion.core.errors import ConflictError, InputError, PermissionDeniedError
from bastion.core.workspace import Workspace
from tests._otp import fresh

LOGS = ResourceRef(ResourceKind.ENDPOINT, "scoring-api")
ACME = Identity(
    "vendor:acme", IdentityKind.VENDOR, AuthMethod.BEARER, roles=frozenset({"vendor-support"})
)


def _approver(ws: Workspace, name: str = "bob") -> Principal:
    t = create_token(ws, name=name, role=Role.APPROVER, actor="test")
    return authenticate(ws, t.token, fresh(t.totp_secret))


def _request(
    ws: Workspace,
    *,
    principal: str = "vendor:acme",
    action: str = "read-logs",
    resource: str = "endpoint:scoring-api",
    reason: str = "investigate ticket INC-4411 latency",
    duration: str = "2h",
    roles: list[str] | None = None,
    actor: str = "alice",
) -> Grant:
    return request_grant(
        ws,
        principal,
        action,
        resource,
        reason,
        duration,
        roles=["vendor-support"] if roles is None else roles,
        actor=actor,
    )


def test_request_approve_use_revoke(ws: Workspace) -> None:
    engine = PolicyEngine(bundled_policy_dir(), grants=GrantIndex(ws, ttl=60.0))
    assert not engine.decide(ACME, Action.READ_LOGS, LOGS).allowed  # no grant yet
    g = _request(ws)
    assert g.state() == "pending" and g.expires_at is None
    assert not engine.decide(ACME, Action.READ_LOGS, LOGS).allowed  # pending allows nothing

    approved = approve_grant(ws, g.id, _approver(ws), note="ok for today")
    assert approved.state() == "active" and approved.expires_at is not None
    assert (
        timedelta(hours=1, minutes=59)
        < approved.expires_at - datetime.now(UTC)
        <= timedelta(hours=2)
    )

    d = engine.decide(ACME, Action.READ_LOGS, LOGS)
    assert d.allowed and d.grant_id == g.id and d.obligations.log_level is LogLevel.FULL
    assert d.reasons == (f"allowed by just-in-time grant {g.id}",)
    # Scoped exactly: another action or resource is not granted.
    assert not engine.decide(ACME, Action.INVOKE, LOGS).allowed
    other = ResourceRef(ResourceKind.ENDPOINT, "llm-api")
    assert not engine.decide(ACME, Action.READ_LOGS, other).allowed
    assert get_grant(ws, g.id).use_count == 1
    used = [e for e in ws.ledger.entries() if e.kind == "access.grant_used"]
    assert len(used) == 1 and used[0].data["grant_id"] == g.id

    # Revocation takes effect at once, though the index (ttl 60 s) still lists the scope.
    revoke_grant(ws, g.id, _approver(ws, "carol"))
    assert not engine.decide(ACME, Action.READ_LOGS, LOGS).allowed
    kinds = [e.kind for e in ws.ledger.entries() if e.kind.startswith("access.grant_")]
    assert kinds == [
        "access.grant_requested",
        "access.grant_approved",
        "access.grant_used",
        "access.grant_revoked",
    ]
    assert [x.id for x in list_grants(ws, state="revoked")] == [g.id]


def test_a_grant_expires_on_its_own(ws: Workspace) -> None:
    engine = PolicyEngine(bundled_policy_dir(), grants=GrantIndex(ws, ttl=0.0))
    g = _request(ws, duration="5m")
    approve_grant(ws, g.id, _approver(ws))
    assert engine.decide(ACME, Action.READ_LOGS, LOGS).allowed
    with ws.db.session() as s:  # five minutes later
        s.execute(
            update(GrantRow)
            .where(GrantRow.id == g.id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    d = engine.decide(ACME, Action.READ_LOGS, LOGS)
    assert not d.allowed and d.grant_id is None
    assert get_grant(ws, g.id).state() == "expired"
    assert [x.id for x in list_grants(ws, state="expired")] == [g.id]


def test_a_grant_never_overrides_a_forbid(ws: Workspace) -> None:
    engine = PolicyEngine(bundled_policy_dir(), grants=GrantIndex(ws, ttl=0.0))
    g = _request(ws, action="download-weights", resource="model_version:credit-gbm")
    approve_grant(ws, g.id, _approver(ws))
    model = ResourceRef(ResourceKind.MODEL_VERSION, "credit-gbm")
    d = engine.decide(ACME, Action.DOWNLOAD_WEIGHTS, model)
    assert not d.allowed and d.policies == ("no-vendor-weights",)


def test_approval_needs_mfa_an_approver_and_someone_else(ws: Workspace) -> None:
    g = _request(ws, actor="token:x:bob")
    t = create_token(ws, name="dave", role=Role.APPROVER, actor="test")
    without_mfa = authenticate(ws, t.token)
    with pytest.raises(PermissionDeniedError, match="multi-factor"):
        approve_grant(ws, g.id, without_mfa)
    e = create_token(ws, name="erin", role=Role.ENGINEER, actor="test")
    with pytest.raises(PermissionDeniedError):
        approve_grant(ws, g.id, authenticate(ws, e.token))
    bob = _approver(ws, "bob")
    own = _request(ws, actor=bob.actor)
    with pytest.raises(PermissionDeniedError, match="own request"):
        approve_grant(ws, own.id, bob)
    acme = _approver(ws, "acme")  # the grant's own principal
    with pytest.raises(PermissionDeniedError, match="own request"):
        approve_grant(ws, g.id, acme)
    denied = deny_grant(ws, g.id, _approver(ws, "frank"), note="use the runbook")
    assert denied.state() == "denied"
    with pytest.raises(ConflictError):
        approve_grant(ws, g.id, _approver(ws, "gina"))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("principal", "root", "invalid principal"),
        ("action", "delete", "unknown action"),
        ("resource", "bucket:x", "invalid resource"),
        ("duration", "30d", "5 seconds to 7 days"),
        ("duration", "soon", "invalid duration"),
        ("reason", "because", "reason of 10"),
        ("roles", ["bad role!"], "invalid role"),
    ],
)
def test_bad_requests_are_refused(ws: Workspace, field: str, value: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        _request(ws, **{field: value})  # type: ignore[arg-type]
    assert list_grants(ws) == []


def test_least_privilege_review(ws: Workspace) -> None:
    bob = _approver(ws)
    unused = _request(ws)  # read-logs: in vendor-support's baseline
    approve_grant(ws, unused.id, bob)
    beyond = _request(ws, action="explain", reason="demo of reason codes for the partner")
    approve_grant(ws, beyond.id, _approver(ws, "carol"))
    used = _request(ws, principal="user:olga", action="explain", roles=["loan-officer"])
    approve_grant(ws, used.id, _approver(ws, "dan"))
    engine_for(ws).decide(
        Identity("user:olga", IdentityKind.USER, AuthMethod.BEARER), Action.EXPLAIN, LOGS
    )
    assert get_grant(ws, used.id).use_count == 1
    baselines = Baselines.model_validate(
        {"roles": {"vendor-support": ["read-logs"], "loan-officer": ["invoke", "explain"]}}
    )
    # Today nothing is old enough to count as unused; the explain grant exceeds the baseline.
    now = least_privilege_report(ws, days=30, baselines=baselines)
    assert now.unused == ()
    assert [(p, [g.id for g in gs]) for p, gs in now.beyond_baseline] == [
        ("vendor:acme", [beyond.id])
    ]
    # 40 days on (the grants long expired): the two never used are unused, the used one
    # too (its use is older than 30 days).
    later = least_privilege_report(
        ws, days=30, baselines=baselines, now=datetime.now(UTC) + timedelta(days=40)
    )
    assert {g.id for g in later.unused} == {unused.id, beyond.id, used.id}
    assert later.beyond_baseline == ()  # expired grants exceed nothing
    soon = least_privilege_report(
        ws, days=30, baselines=baselines, now=datetime.now(UTC) + timedelta(hours=3)
    )
    assert {g.id for g in soon.unused} == {unused.id, beyond.id}  # expired, never used
    assert soon.to_dict()["unused_grants"][0]["last_used_at"] is None
    with pytest.raises(InputError):
        least_privilege_report(ws, days=0)


def test_a_busy_grant_costs_no_write_per_use(ws: Workspace) -> None:
    engine = PolicyEngine(bundled_policy_dir(), grants=GrantIndex(ws, ttl=60.0))
    g = _request(ws)
    approve_grant(ws, g.id, _approver(ws))
    for _ in range(5):
        assert engine.decide(ACME, Action.READ_LOGS, LOGS).grant_id == g.id
    assert get_grant(ws, g.id).use_count == 1  # the first use is written at once
    engine.close()  # the rest when the process stops (or a minute later)
    assert get_grant(ws, g.id).use_count == 5
    used = [e.data["uses"] for e in ws.ledger.entries() if e.kind == "access.grant_used"]
    assert used == [1, 4]


def test_review_without_baselines_leaves_that_half_out(ws: Workspace, tmp_path: Path) -> None:
    g = _request(ws, action="explain", reason="a partner demo of the reason codes")
    approve_grant(ws, g.id, _approver(ws))
    with_base = access_review(ws, days=30)  # the bundled directory has baselines.yaml
    assert with_base.to_dict()["baselines"] is True
    assert [p for p, _ in with_base.beyond_baseline] == ["vendor:acme"]
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "p.cedar").write_text('@id("x") forbid (principal, action, resource);')
    without = access_review(ws, days=30, directory=bare)
    assert without.to_dict()["baselines"] is False and without.beyond_baseline == ()
