"""The incidents API with real tokens: deny by default, roles, MFA for playbook runs, and
the incident -> playbook -> custody path over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from bastion.access import Role, create_token
from bastion.api import create_app
from bastion.core.workspace import Workspace
from bastion.governance import apply_config, load_config
from bastion.incidents import collect
from tests._otp import fresh
from tests.registry._helpers import GOVERNANCE


@pytest.fixture
def client(sqlite_ws: Workspace) -> Iterator[TestClient]:
    apply_config(sqlite_ws, load_config(GOVERNANCE), actor="test")
    with TestClient(create_app(sqlite_ws.settings, workspace=sqlite_ws)) as c:
        yield c


def _h(ws: Workspace, role: Role) -> tuple[dict[str, str], str | None]:
    t = create_token(ws, name=f"t-{role.value}", role=role)
    return {"Authorization": f"Bearer {t.token}"}, t.totp_secret


def test_every_incident_route_denies_by_default(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = [p for p in spec["paths"] if p.startswith(("/api/v1/incidents", "/api/v1/custody"))]
    assert len(paths) >= 9
    for path in paths:
        for method in spec["paths"][path]:
            url = path.replace("{incident_id}", "x").replace("{artifact_id}", "x")
            url = url.replace("{step}", "x")
            r = client.request(method, url)
            assert r.status_code == 401, (method, path)
            assert r.headers["content-type"].startswith("application/problem+json")


def test_incident_flow_over_http(client: TestClient, sqlite_ws: Workspace) -> None:
    ws = sqlite_ws
    viewer, _ = _h(ws, Role.VIEWER)
    sec, _ = _h(ws, Role.SECURITY)
    appr, seed = _h(ws, Role.APPROVER)
    victim = create_token(ws, name="scraper", role=Role.VIEWER)
    body = {"title": "burst of denials", "kind": "denial_burst", "severity": "high",
            "owner": "sam", "params": {"token_id": victim.info.id},
            "links": [["event", "e-1"]]}  # fmt: skip
    assert client.post("/api/v1/incidents", json=body, headers=viewer).status_code == 403
    r = client.post("/api/v1/incidents", json=body, headers=sec)
    assert r.status_code == 200, r.text
    inc = r.json()
    assert inc["links"] == [{"kind": "event", "ref": "e-1"}] and inc["created_by"].endswith(
        "t-security"
    )
    listed = client.get("/api/v1/incidents", headers=viewer).json()
    assert [i["id"] for i in listed] == [inc["id"]]
    # running a playbook revokes tokens: approve with MFA, never write alone
    run = {"playbook": "denial-burst"}
    url = f"/api/v1/incidents/{inc['id']}/playbook-runs"
    assert client.post(url, json=run, headers=sec).status_code == 403
    assert client.post(url, json=run, headers=appr).status_code == 403  # no TOTP code
    bad = client.post(url, json={"playbook": "/etc/passwd"},
                      headers=appr | {"X-Bastion-OTP": fresh(seed)})  # fmt: skip
    assert bad.status_code == 422 and "not a shipped playbook" in bad.json()["detail"]
    r = client.post(url, json=run, headers=appr | {"X-Bastion-OTP": fresh(seed)})
    assert r.status_code == 200, r.text
    assert r.json()["ok"] and r.json()["actions"][0]["action"] == "revoke_token"
    revoked = client.get("/api/v1/incidents", headers={"Authorization": f"Bearer {victim.token}"})
    assert revoked.status_code == 401
    chart = client.get(f"/api/v1/incidents/{inc['id']}/timeline.svg", headers=viewer)
    assert chart.status_code == 200 and chart.headers["content-type"] == "image/svg+xml"
    assert "contain (security-oncall)" in chart.text
    shown = client.get(f"/api/v1/incidents/{inc['id']}", headers=viewer).json()
    assert shown["status"] == "contained"
    assert shown["steps"][0]["owners"] == ["security-oncall"]  # high x security
    done = client.post(f"/api/v1/incidents/{inc['id']}/steps/confirm/complete",
                       json={"note": "owner confirmed"}, headers=sec)  # fmt: skip
    assert done.status_code == 200 and all(s["status"] == "done" for s in done.json()["steps"])
    assert client.post(f"/api/v1/incidents/{inc['id']}/notes", json={"note": "x", "extra": 1},
                       headers=sec).status_code == 422  # fmt: skip
    # custody over HTTP: the report and the verification
    art = collect(ws, b"log bytes", name="log.jsonl", incident_id=inc["id"], actor="sam")
    rep = client.get("/api/v1/custody/report", params={"incident": inc["id"]}, headers=viewer)
    assert rep.status_code == 200 and rep.json()["artifacts"][0]["artifact"]["id"] == art.id
    assert client.post("/api/v1/custody/verify", params={"artifact": art.id},
                       headers=viewer).status_code == 403  # fmt: skip
    ok = client.post("/api/v1/custody/verify", params={"artifact": art.id}, headers=sec)
    assert ok.status_code == 200 and ok.json()["ok"]
    assert (
        client.get(f"/api/v1/custody/artifacts/{art.id}", headers=viewer).json()["events"][-1][
            "action"
        ]
        == "verified"
    )
    closed = client.post(f"/api/v1/incidents/{inc['id']}/close",
                         json={"resolution": "contained"}, headers=sec)  # fmt: skip
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    # a remote caller cannot make a playbook read server files
    leak = client.post("/api/v1/incidents", headers=sec, json={
        "title": "export", "kind": "unauthorized_export", "owner": "sam",
        "params": {"token_id": "none", "event_log": "/etc/hostname"}}).json()  # fmt: skip
    r = client.post(f"/api/v1/incidents/{leak['id']}/playbook-runs",
                    json={"playbook": "unauthorized-export"},
                    headers=appr | {"X-Bastion-OTP": fresh(seed)})  # fmt: skip
    freeze = next(a for a in r.json()["actions"] if a["action"] == "freeze_evidence")
    assert not freeze["ok"] and "may not name server files" in freeze["detail"]
    assert client.get("/api/v1/custody/artifacts", params={"incident": leak["id"]},
                      headers=viewer).json() == []  # fmt: skip
    missing = client.get("/api/v1/incidents/nope", headers=viewer)
    assert missing.status_code == 404
    assert client.get("/api/v1/incidents/playbooks", headers=viewer).status_code == 200
