"""Regression tests for issue 14 (security review), findings 6, 10 and 12, over the API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from fastapi.testclient import TestClient

from bastion.access import MFA_LOCKOUT_AFTER, Role, authenticate, create_token
from bastion.api import create_app
from bastion.core.errors import AuthError
from bastion.core.workspace import Workspace
from tests._otp import fresh


@pytest.fixture
def client(ws: Workspace) -> Iterator[TestClient]:
    with TestClient(create_app(ws.settings, workspace=ws)) as c:
        yield c


def _wrong(seed: str) -> str:
    return _wrong_at(seed, datetime.now(UTC))


def _wrong_at(seed: str, when: datetime) -> str:
    """A well-formed code that is none of the codes the server accepts at ``when``."""
    totp = pyotp.TOTP(seed)
    now = when.timestamp()
    valid = {totp.at(now + d) for d in (-60, -30, 0, 30, 60)}
    return next(c for c in (f"{i:06d}" for i in range(1_000_000)) if c not in valid)


# -- finding 12: TOTP back-off, replay, ledgered failures -------------------------------------


def test_finding_12_totp_lockout(client: TestClient, ws: Workspace) -> None:
    adm = create_token(ws, name="ops-admin", role=Role.ADMIN)
    assert adm.totp_secret
    h = {"Authorization": f"Bearer {adm.token}"}
    bad = _wrong(adm.totp_secret)
    for _ in range(MFA_LOCKOUT_AFTER):
        r = client.get("/api/v1/tokens", headers=h | {"X-Bastion-OTP": bad})
        assert r.status_code == 401
    # Locked out: even the right code is refused now (this was a 200 before the fix).
    right = pyotp.TOTP(adm.totp_secret).now()
    r = client.get("/api/v1/tokens", headers=h | {"X-Bastion-OTP": right})
    assert r.status_code == 401 and "too many wrong codes" in r.json()["detail"]
    failures = [e for e in ws.ledger.entries(limit=1000) if e.kind == "access.mfa_failed"]
    assert [e.data["reason"] for e in failures] == ["wrong_code"] * MFA_LOCKOUT_AFTER + [
        "locked_out"
    ]
    assert all(e.data["token_id"] == adm.info.id for e in failures)
    text = json.dumps([e.data for e in failures])
    assert bad not in text and right not in text  # codes are never ledgered
    assert failures[-1].data["locked_until"] is not None
    # The first window is 30 s; one more wrong code after it doubles the window to 60 s.
    t0 = datetime.now(UTC)
    at = t0 + timedelta(seconds=35)
    with pytest.raises(AuthError):
        authenticate(ws, adm.token, _wrong_at(adm.totp_secret, at), now=at)
    at = t0 + timedelta(seconds=80)
    with pytest.raises(AuthError, match="too many wrong codes"):
        authenticate(ws, adm.token, pyotp.TOTP(adm.totp_secret).at(at), now=at)
    # Once the window has passed a right code works again.
    at = t0 + timedelta(seconds=100)
    assert authenticate(ws, adm.token, pyotp.TOTP(adm.totp_secret).at(at), now=at).mfa_verified


def test_finding_12_totp_replay_refused(client: TestClient, ws: Workspace) -> None:
    adm = create_token(ws, name="ops-admin", role=Role.ADMIN)
    assert adm.totp_secret
    h = {"Authorization": f"Bearer {adm.token}"}
    code = fresh(adm.totp_secret)
    assert client.get("/api/v1/tokens", headers=h | {"X-Bastion-OTP": code}).status_code == 200
    again = client.get("/api/v1/tokens", headers=h | {"X-Bastion-OTP": code})
    assert again.status_code == 401 and "already used" in again.json()["detail"]
    # An earlier step's code is a replay too, even if it was never used.
    old = pyotp.TOTP(adm.totp_secret).at(datetime.now(UTC) - timedelta(seconds=30))
    assert client.get("/api/v1/tokens", headers=h | {"X-Bastion-OTP": old}).status_code == 401
    # The next step's code is fresh and accepted.
    assert (
        client.get(
            "/api/v1/tokens", headers=h | {"X-Bastion-OTP": fresh(adm.totp_secret)}
        ).status_code
        == 200
    )
    reasons = [
        e.data["reason"] for e in ws.ledger.entries(limit=1000) if e.kind == "access.mfa_failed"
    ]
    assert reasons == ["replayed_code", "replayed_code"]


def test_finding_12_totp_state_shared_across_workspaces(ws: Workspace) -> None:
    """The state is in the database: a second process (another Workspace) sees the spent code."""
    from bastion.core.workspace import open_workspace

    adm = create_token(ws, name="ops-admin", role=Role.ADMIN)
    code = fresh(adm.totp_secret)
    assert authenticate(ws, adm.token, code).mfa_verified
    other = open_workspace(ws.settings)
    try:
        with pytest.raises(AuthError, match="already used"):
            authenticate(other, adm.token, code)
    finally:
        other.close()


# -- finding 10: heavy work off the event loop, with a sample budget and a concurrency cap ----


def test_finding_10_simulation_off_the_event_loop(ws: Workspace) -> None:
    import threading

    from bastion.api.risk import MAX_SIMULATION_SAMPLES, SIMULATIONS
    from tests.conftest import ROOT

    body = (ROOT / "examples" / "credit-scoring" / "scenarios.yaml").read_bytes()
    viewer = create_token(ws, name="v", role=Role.VIEWER)
    h = {"Authorization": f"Bearer {viewer.token}"}
    iterations = MAX_SIMULATION_SAMPLES // 5 // 2  # 5 scenarios: half the budget, some seconds
    order: list[str] = []
    statuses: list[int] = []
    with TestClient(create_app(ws.settings, workspace=ws)) as c:
        # Over the budget: refused before any work, with a clear 422.
        r = c.post("/api/v1/risk/simulate?iterations=1000000", content=body, headers=h)
        assert r.status_code == 422 and "over the budget" in r.json()["detail"]

        def simulate() -> None:
            r = c.post(f"/api/v1/risk/simulate?iterations={iterations}", content=body, headers=h)
            statuses.append(r.status_code)
            order.append("simulation")

        runs = [threading.Thread(target=simulate) for _ in range(SIMULATIONS.limit)]
        for t in runs:
            t.start()
        deadline = threading.Event()
        for _ in range(500):  # until every slot is taken (the simulations are running)
            if not SIMULATIONS._slots.acquire(blocking=False):
                break
            SIMULATIONS._slots.release()
            deadline.wait(0.01)
        # One more is refused at once rather than queued.
        r = c.post("/api/v1/risk/simulate?iterations=1000", content=body, headers=h)
        assert r.status_code == 503 and r.headers["retry-after"].isdigit()
        # The event loop is free: the health check answers while the simulations run.
        assert c.get("/healthz").text == "ok"
        order.append("healthz")
        for t in runs:
            t.join()
    assert statuses == [200] * SIMULATIONS.limit
    assert order[0] == "healthz", order


def test_finding_10_model_scans_capped(client: TestClient, ws: Workspace) -> None:
    from bastion.api.integrity_scanning import SCANS

    eng = create_token(ws, name="e", role=Role.ENGINEER)
    h = {"Authorization": f"Bearer {eng.token}"}
    for _ in range(SCANS.limit):  # every slot busy, as with that many scans running
        assert SCANS._slots.acquire(blocking=False)
    try:
        r = client.post("/api/v1/models/scan?name=m.pkl", content=b"\x80\x04N.", headers=h)
        assert r.status_code == 503 and r.headers["retry-after"] == str(SCANS.retry_after)
    finally:
        for _ in range(SCANS.limit):
            SCANS._slots.release()
    r = client.post("/api/v1/models/scan?name=m.pkl", content=b"\x80\x04N.", headers=h)
    assert r.status_code == 200, r.text


# -- finding 6: two-person rule for roles, gate policy and the governance file --------------


def test_finding_06_approver_cannot_grant_themselves_a_role(
    client: TestClient, ws: Workspace
) -> None:
    from bastion.governance import apply_config, get_person, load_config
    from bastion.registry import current_policy, load_policy, set_policy
    from tests._otp import mfa_headers
    from tests.registry._helpers import GOVERNANCE, POLICY

    apply_config(ws, load_config(GOVERNANCE), actor="test")
    set_policy(ws, load_policy(POLICY), actor="test")
    # The attack: lee (approver, MFA) gives lee the security role, to sign off as security.
    r = client.post(
        "/api/v1/governance/people/lee/transition",
        headers=mfa_headers(ws, "lee"),
        json={"roles": ["legal", "security"]},
    )
    assert r.status_code == 403 and "their own roles" in r.json()["detail"]
    assert get_person(ws, "lee").roles == ("legal",)
    # Proposed by another person, the new role still counts only after a third attests.
    r = client.post(
        "/api/v1/governance/people/lee/transition",
        headers=mfa_headers(ws, "bo"),
        json={"roles": ["legal", "security"]},
    )
    assert r.status_code == 200
    review = r.json()["id"]
    assert get_person(ws, "lee").roles == ("legal",)
    attest = f"/api/v1/governance/access-reviews/{review}/attest"
    assert client.post(attest, headers=mfa_headers(ws, "lee"), json={}).status_code == 403
    assert client.post(attest, headers=mfa_headers(ws, "bo"), json={}).status_code == 403
    assert get_person(ws, "lee").roles == ("legal",)
    assert client.post(attest, headers=mfa_headers(ws, "sam"), json={}).status_code == 200
    assert get_person(ws, "lee").roles == ("legal", "security")
    # Self-grants are refused too.
    r = client.post(
        "/api/v1/governance/people/lee/grants",
        headers=mfa_headers(ws, "lee"),
        json={"grant": "dataset:applicants:read"},
    )
    assert r.status_code == 403
    # Gate policy: lee's proposal takes effect only when someone else approves it.
    looser = POLICY.read_text().replace("count: 1", "count: 2", 1)
    r = client.put("/api/v1/gate-policy", headers=mfa_headers(ws, "lee"), content=looser)
    assert r.status_code == 202
    prop = r.json()["id"]
    assert current_policy(ws)[0] == 1
    r = client.post(f"/api/v1/governance/proposals/{prop}/approve", headers=mfa_headers(ws, "lee"))
    assert r.status_code == 403 and current_policy(ws)[0] == 1
    listed = client.get(
        "/api/v1/governance/proposals", headers=mfa_headers(ws, "bo"), params={"status": "pending"}
    ).json()
    assert [p["id"] for p in listed] == [prop]
    r = client.post(
        f"/api/v1/governance/proposals/{prop}/reject",
        headers=mfa_headers(ws, "bo"),
        json={"reason": "no"},
    )
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    r = client.post(f"/api/v1/governance/proposals/{prop}/approve", headers=mfa_headers(ws, "sam"))
    assert r.status_code == 409 and current_policy(ws)[0] == 1
    kinds = [e.kind for e in ws.ledger.entries(limit=1000)]
    assert "governance.change_proposed" in kinds and "governance.change_rejected" in kinds
    # The governance file: the same two steps, both ledgered.
    r = client.put(
        "/api/v1/governance/config", headers=mfa_headers(ws, "lee"), content=GOVERNANCE.read_bytes()
    )
    assert r.status_code == 202
    prop = r.json()["id"]
    assert (
        client.get(f"/api/v1/governance/proposals/{prop}", headers=mfa_headers(ws, "bo")).json()[
            "body"
        ]["yaml"]
        == GOVERNANCE.read_text()
    )
    # The file sets lee's roles back to [legal]: lee may not change lee's roles that way.
    r = client.post(f"/api/v1/governance/proposals/{prop}/approve", headers=mfa_headers(ws, "bo"))
    assert r.status_code == 403 and "their own roles" in r.json()["detail"]
    failed = client.get(f"/api/v1/governance/proposals/{prop}", headers=mfa_headers(ws, "bo"))
    assert failed.json()["status"] == "failed"
    r = client.put(
        "/api/v1/governance/config", headers=mfa_headers(ws, "bo"), content=GOVERNANCE.read_bytes()
    )
    prop = r.json()["id"]
    r = client.post(f"/api/v1/governance/proposals/{prop}/approve", headers=mfa_headers(ws, "sam"))
    assert r.status_code == 200 and r.json()["status"] == "applied", r.text
    (applied,) = ws.ledger.entries(kind="governance.config_applied", limit=1000)[-1:]
    assert applied.data["approval"] == {
        "proposal": prop,
        "proposed_by": "bo",
        "approved_by": "sam",
    }
    assert get_person(ws, "lee").roles == ("legal",)  # losing a role needs no review
    assert applied.data["break_glass"] is False
