"""REST API: deny by default on every route, problem+json errors, the spine's operations."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from bastion.access import Role, create_token, revoke_token
from bastion.api import create_app
from bastion.core.workspace import Workspace
from tests._otp import fresh
from tests.conftest import EXAMPLE_MANIFEST

WRITE_METHODS = {"post", "put", "patch", "delete"}


@pytest.fixture
def client(ws: Workspace) -> Iterator[TestClient]:
    with TestClient(create_app(ws.settings, workspace=ws)) as c:
        yield c


def _token(ws: Workspace, role: Role) -> tuple[dict[str, str], str | None]:
    t = create_token(ws, name=f"t-{role.value}", role=role)
    return {"Authorization": f"Bearer {t.token}"}, t.totp_secret


# POST routes that compute from their body and change nothing; a viewer may call them.
PURE_COMPUTATIONS = {
    "/api/v1/threats/model",
    "/api/v1/risk/simulate",
    "/api/v1/risk/whatif",
}


def _routes(client: TestClient, with_perm: bool = False) -> list[tuple[str, ...]]:
    spec = client.get("/openapi.json").json()
    out: list[tuple[str, ...]] = []
    for path, ops in spec["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", "x", path)
        for m, op in ops.items():
            perm = op.get("x-bastion-permission")
            assert perm in {
                "read",
                "write",
                "approve",
                "admin",
                "write|approve",
                "admin|approve",
            }, (
                m,
                path,
                perm,
            )
            out.append((m, concrete, perm, path) if with_perm else (m, concrete))
    return out


def test_every_route_needs_authentication(client: TestClient) -> None:
    routes = _routes(client)
    assert len(routes) >= 14
    for method, path in routes:
        r = client.request(method.upper(), path)
        assert r.status_code == 401, (method, path, r.status_code)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["status"] == 401
        assert r.headers["www-authenticate"].startswith("Bearer")


def test_viewer_is_forbidden_every_write(client: TestClient, ws: Workspace) -> None:
    headers, _ = _token(ws, Role.VIEWER)
    routes = _routes(client, with_perm=True)
    writes = [(m, p) for m, p, perm, _ in routes if perm != "read"]
    assert writes
    for method, path in writes:
        r = client.request(method.upper(), path, headers=headers, content=b"{}")
        assert r.status_code == 403, (method, path, r.status_code, r.text)
        assert r.json()["title"] == "Forbidden"
    # Every state-changing method needs more than read, except declared pure computations,
    # and those must indeed change nothing when a viewer calls them.
    size = ws.ledger.size()
    for method, path, perm, template in routes:
        if method in WRITE_METHODS and perm == "read":
            assert template in PURE_COMPUTATIONS, (method, template)
            client.request(method.upper(), path, headers=headers, content=b"{}")
    assert ws.ledger.size() == size


def test_bad_expired_and_revoked_tokens(client: TestClient, ws: Workspace) -> None:
    for bad in ("Bearer nope", "Basic abc", "Bearer bst_aaaaaaaaaaaa_" + "A" * 43):
        r = client.get("/api/v1/systems", headers={"Authorization": bad})
        assert r.status_code == 401
    from datetime import timedelta

    t = create_token(ws, name="short", role=Role.VIEWER, ttl=timedelta(microseconds=1))
    assert (
        client.get("/api/v1/systems", headers={"Authorization": f"Bearer {t.token}"}).status_code
        == 401
    )
    headers, _ = _token(ws, Role.VIEWER)
    assert client.get("/api/v1/systems", headers=headers).status_code == 200
    revoke_token(ws, headers["Authorization"].split("_")[1])
    assert client.get("/api/v1/systems", headers=headers).status_code == 401


def test_admin_actions_need_mfa(client: TestClient, ws: Workspace) -> None:
    headers, seed = _token(ws, Role.ADMIN)
    assert seed is not None
    r = client.get("/api/v1/tokens", headers=headers)
    assert r.status_code == 403 and "multi-factor" in r.json()["detail"]
    bad = client.get("/api/v1/tokens", headers=headers | {"X-Bastion-OTP": "000000"})
    assert bad.status_code == 401
    ok = client.get("/api/v1/tokens", headers=headers | {"X-Bastion-OTP": fresh(seed)})
    assert ok.status_code == 200
    assert all("secret" not in k for t in ok.json() for k in t)
    created = client.post(
        "/api/v1/tokens",
        headers=headers | {"X-Bastion-OTP": fresh(seed)},
        json={"name": "ci", "role": "engineer"},
    )
    assert created.status_code == 201 and created.json()["token"].startswith("bst_")
    # An engineer may not administer tokens, with or without a code.
    eng = {"Authorization": f"Bearer {created.json()['token']}"}
    assert client.get("/api/v1/tokens", headers=eng).status_code == 403


def test_import_run_check_evidence_and_ledger(client: TestClient, ws: Workspace) -> None:
    eng, _ = _token(ws, Role.ENGINEER)
    body = EXAMPLE_MANIFEST.read_bytes()
    r = client.post(
        "/api/v1/inventory/import", headers=eng | {"Content-Type": "application/yaml"}, content=body
    )
    assert r.status_code == 200, r.text
    system = r.json()["system"]
    digest = r.json()["digest"]
    assets = client.get("/api/v1/assets", params={"kind": "model"}, headers=eng).json()
    assert assets and all(a["kind"] == "model" for a in assets)
    one = client.get(f"/api/v1/assets/{assets[0]['system']}/{assets[0]['id']}", headers=eng).json()
    assert one["history"][0]["change"] == "added"
    assert client.get(f"/api/v1/systems/{system}", headers=eng).json()["digest"] == digest
    checks = client.get("/api/v1/checks", headers=eng).json()
    assert "inventory.hygiene" in {c["id"] for c in checks}
    run = client.post(
        "/api/v1/checks/inventory.hygiene/run",
        headers=eng,
        json={"subject": {"kind": "system", "ref": system, "digest": digest}},
    )
    assert run.status_code == 200, run.text
    ev_id = run.json()["id"]
    ev = client.get(f"/api/v1/evidence/{ev_id}", headers=eng).json()
    assert ev["intact"] is True and ev["verdict"] == "pass"
    assert [e["id"] for e in client.get("/api/v1/evidence", headers=eng).json()] == [ev_id]
    entries = client.get("/api/v1/ledger/entries", headers=eng).json()
    assert entries[0]["kind"] == "evidence.recorded"
    proof = client.get(f"/api/v1/ledger/proof/{entries[0]['id']}", headers=eng).json()
    assert proof["tree_size"] >= 3 and proof["leaf_index"] == entries[0]["seq"]
    note = client.get("/api/v1/ledger/checkpoint", headers=eng)
    assert note.text.startswith(ws.ledger.origin + "\n") and "\u2014 " in note.text
    cons = client.get("/api/v1/ledger/consistency", params={"old_size": 1}, headers=eng).json()
    assert cons["old_size"] == 1
    ver = client.get("/api/v1/ledger/verify", headers=eng).json()
    assert ver["ok"] is True and ver["size"] == proof["tree_size"]
    me = client.get("/api/v1/whoami", headers=eng).json()
    assert me["role"] == "engineer"


def test_errors_are_problem_json_and_change_nothing(client: TestClient, ws: Workspace) -> None:
    eng, _ = _token(ws, Role.ENGINEER)
    size = ws.ledger.size()
    bad = client.post(
        "/api/v1/inventory/import", headers=eng, content=b"apiVersion: bastion/v1\nkind: ["
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert bad.json()["errors"] and "request body:" in bad.json()["errors"][0]
    unknown = client.post(
        "/api/v1/inventory/import",
        headers=eng,
        content=EXAMPLE_MANIFEST.read_bytes().replace(
            b"kind: System", b"kind: System\nextra: 1", 1
        ),
    )
    assert unknown.status_code == 422 and any("extra" in e for e in unknown.json()["errors"])
    huge = client.post("/api/v1/inventory/import", headers=eng, content=b"a" * (3 * 1024 * 1024))
    assert huge.status_code == 413
    assert client.get("/api/v1/evidence/nope", headers=eng).status_code == 404
    assert client.get("/api/v1/ledger/entries", params={"limit": 0}, headers=eng).status_code == 422
    r = client.post(
        "/api/v1/checks/inventory.hygiene/run", headers=eng, json={"subject": {"kind": "x"}}
    )
    assert r.status_code == 422 and r.json()["errors"]
    assert client.get("/api/v1/nothing-here", headers=eng).status_code == 404
    assert ws.ledger.size() == size
