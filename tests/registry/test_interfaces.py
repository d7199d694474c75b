"""The registry and governance through the CLI, the REST API and the console."""

from __future__ import annotations

import json
from pathlib import Path

import pyotp
import pytest
from fastapi.testclient import TestClient

from bastion.access import authenticate, create_token
from bastion.api import create_app
from bastion.api.console import SESSION_COOKIE, issue_session
from bastion.cli.main import main
from bastion.core.workspace import Workspace
from bastion.registry import get_version, register_model
from tests.conftest import EXAMPLE_MANIFEST
from tests.registry._helpers import GOVERNANCE, POLICY, good_evidence, model_dir, setup


def _cli(home: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(["--home", str(home), *args])
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    run = lambda *a: _cli(home, capsys, *a)  # noqa: E731
    assert run("init")[0] == 0
    assert run("inventory", "import", str(EXAMPLE_MANIFEST))[0] == 0
    assert run("governance", "apply", str(GOVERNANCE))[0] == 0
    assert run("gate", "policy", "set", str(POLICY))[0] == 0
    rc, _o, err = run("gate", "policy", "set", str(tmp_path / "none.yaml"))
    assert rc == 2 and "cannot read gate policy" in err
    md = model_dir(tmp_path)
    rc, out, err = run(
        "model",
        "register",
        "credit-gbm",
        str(md),
        "--system",
        "credit-scoring",
        "--asset",
        "credit-gbm",
        "--actor",
        "dana",
        "--format",
        "json",
    )
    assert rc == 0, err
    v = json.loads(out)
    assert v["version"] == "1"
    rc, out, _ = run("model", "list", "--format", "json")
    assert json.loads(out)[0]["name"] == "credit-gbm"
    rc, out, _ = run("model", "show", "credit-gbm", "1", "--format", "json")
    assert json.loads(out)["digest"] == v["digest"]
    rc, out, _ = run("gate", "check", "credit-gbm", "1", "--stage", "production")
    assert rc == 1 and "security sign-off" in out and "NO" in out
    rc, out, _ = run("model", "promote", "credit-gbm", "1", "--to", "production", "--actor", "dana")
    assert rc == 1 and "Refused" in out
    rc, _o, err = run("model", "promote", "credit-gbm", "9", "--to", "production")
    assert rc == 2 and "no version or alias '9'" in err
    from bastion.core.settings import get_settings
    from bastion.core.workspace import open_workspace

    ws = open_workspace(get_settings(home=home))
    try:
        good_evidence(ws, get_version(ws, "credit-gbm", "1"))
        tokens = {p: create_token(ws, name=p, role="approver") for p in ("sam", "lee", "bo")}
    finally:
        ws.close()
    sam = tokens["sam"]
    otp = lambda t: pyotp.TOTP(t.totp_secret).now()  # noqa: E731
    rc, _o, err = run(
        "model", "approve", "credit-gbm", "1", "--token", sam.token, "--otp", "000000"
    )
    assert rc == 2 and "one-time code" in err
    rc, out, err = run(
        "model", "approve", "credit-gbm", "1", "--token", sam.token, "--otp", otp(sam)
    )
    assert rc == 0, err
    rc, _o, err = run(
        "model", "approve", "credit-gbm", "1", "--token", sam.token, "--otp", otp(sam)
    )
    assert rc == 2 and "already approved" in err
    rc, out, err = run(
        "governance",
        "cr",
        "open",
        "--title",
        "promote",
        "--target",
        "credit-gbm@1",
        "--digest",
        v["digest"],
        "--actor",
        "dana",
        "--format",
        "json",
    )
    cr = json.loads(out)["id"]
    for p in ("sam", "lee", "bo"):
        rc, out, err = run(
            "governance",
            "cr",
            "vote",
            cr,
            "approve",
            "--token",
            tokens[p].token,
            "--otp",
            otp(tokens[p]),
        )
        assert rc == 0, err
    assert "approved" in out
    rc, out, _ = run("gate", "check", "credit-gbm", "1", "--format", "json")
    assert rc == 0 and json.loads(out)["satisfied"]
    rc, out, err = run(
        "model", "promote", "credit-gbm", "1", "--to", "production", "--actor", "dana"
    )
    assert rc == 0 and "Promoted" in out, err
    rc, out, _ = run("model", "history", "credit-gbm")
    assert "promote" in out
    rc, _o, err = run("model", "rollback", "credit-gbm", "--to", "1", "--reason", "x")
    assert rc == 2 and "already in production" in err
    for args in (
        ("governance", "people", "list"),
        ("governance", "raci", "show"),
        ("governance", "board", "list"),
        ("governance", "cr", "list"),
        ("governance", "escalation", "show"),
        ("governance", "review", "list"),
        ("governance", "cr", "show", cr),
    ):
        rc, out, err = run(*args, "--format", "json")
        assert rc == 0, (args, err)
        json.loads(out)
    rc, out, _ = run("governance", "escalation", "query", "critical", "security")
    assert "ciso" in out
    rc, out, err = run("governance", "people", "transition", "dana", "--role", "operations")
    assert rc == 0 and "REVOKE" in out, err
    rc, out, _ = run("governance", "review", "list", "--format", "json")
    rid = json.loads(out)[0]["id"]
    rc, out, err = run("governance", "review", "attest", rid, "--by", "sam")
    assert rc == 0 and "completed" in out, err
    rc, _o, err = run("governance", "apply", str(POLICY))
    assert rc == 2 and "Governance" in err


@pytest.fixture
def client(ws: Workspace) -> TestClient:
    with TestClient(create_app(ws.settings, workspace=ws)) as c:
        yield c


def test_api_routes(ws: Workspace, client: TestClient, tmp_path: Path) -> None:
    setup(ws)
    v = register_model(
        ws,
        "credit-gbm",
        model_dir(tmp_path),
        system="credit-scoring",
        asset="credit-gbm",
        actor="dana",
    )
    eng = create_token(ws, name="dana", role="engineer")
    h = {"Authorization": f"Bearer {eng.token}"}
    assert client.get("/api/v1/models").status_code == 401
    assert client.get("/api/v1/models", headers=h).json()[0]["name"] == "credit-gbm"
    assert client.get("/api/v1/models/credit-gbm", headers=h).status_code == 200
    assert (
        client.get("/api/v1/models/credit-gbm/versions/1", headers=h).json()["digest"] == v.digest
    )
    assert client.get("/api/v1/models/credit-gbm/versions/9", headers=h).status_code == 404
    g = client.get("/api/v1/models/credit-gbm/versions/1/gate", headers=h).json()
    assert g["satisfied"] is False
    r = client.post(
        "/api/v1/models/credit-gbm/versions/1/promote", headers=h, json={"to": "production"}
    )
    assert r.status_code == 200 and r.json()["promoted"] is False
    assert client.get("/api/v1/promotions/pending", headers=h).json()[0]["version"] == "1"
    r = client.post("/api/v1/models/credit-gbm/versions/1/approvals", headers=h, json={})
    assert r.status_code == 403
    sam = create_token(ws, name="sam", role="approver")
    hs = {"Authorization": f"Bearer {sam.token}"}
    r = client.post("/api/v1/models/credit-gbm/versions/1/approvals", headers=hs, json={})
    assert r.status_code == 403 and "multi-factor" in r.json()["detail"]
    hs_mfa = hs | {"X-Bastion-OTP": pyotp.TOTP(sam.totp_secret).now()}
    r = client.post("/api/v1/models/credit-gbm/versions/1/approvals", headers=hs_mfa, json={})
    assert r.status_code == 200, r.text
    r = client.post("/api/v1/models/credit-gbm/versions/1/approvals", headers=hs_mfa, json={})
    assert r.status_code == 409
    assert len(client.get("/api/v1/approvals", headers=h).json()) == 1
    assert client.get("/api/v1/models/credit-gbm/history", headers=h).status_code == 200
    r = client.post(
        "/api/v1/models/credit-gbm/rollback", headers=h, json={"to": "1", "reason": "x"}
    )
    assert r.status_code == 409
    assert client.get("/api/v1/gate-policy", headers=h).json()["version"] == 1
    bad = POLICY.read_text().replace("kind: integrity.scan", "kind: nope.nope", 1)
    r = client.put("/api/v1/gate-policy", headers=h, content=bad)
    assert r.status_code == 422 and "unknown evidence kind" in r.json()["detail"]
    r = client.put("/api/v1/governance/config", headers=h, content=GOVERNANCE.read_bytes())
    assert r.status_code == 200
    for path in ("people", "access-reviews", "raci", "boards", "change-requests"):
        assert client.get(f"/api/v1/governance/{path}", headers=h).status_code == 200
    r = client.post(
        "/api/v1/governance/change-requests",
        headers=h,
        json={"title": "t", "target": v.ref, "target_digest": v.digest},
    )
    cr = r.json()["id"]
    r = client.post(
        f"/api/v1/governance/change-requests/{cr}/votes", headers=hs_mfa, json={"vote": "approve"}
    )
    assert r.status_code == 200 and r.json()["votes"][0]["voter"] == "sam"
    assert client.get(f"/api/v1/governance/change-requests/{cr}", headers=h).status_code == 200
    e = client.get(
        "/api/v1/governance/escalation", headers=h, params={"severity": "high", "domain": "legal"}
    ).json()
    assert e["notify"] == ["general-counsel"] and e["within_seconds"] == 4 * 3600


def test_console_pages(ws: Workspace, client: TestClient, tmp_path: Path) -> None:
    setup(ws)
    v = register_model(
        ws,
        "credit-gbm",
        model_dir(tmp_path),
        system="credit-scoring",
        asset="credit-gbm",
        actor="dana",
    )
    ids = good_evidence(ws, v)
    from bastion.registry import promote

    promote(ws, "credit-gbm", "1", "production", actor="dana")
    assert client.get("/ui/registry", follow_redirects=False).status_code in (302, 303, 307)
    viewer = create_token(ws, name="viewer", role="viewer")
    p = authenticate(ws, viewer.token)
    client.cookies.set(SESSION_COOKIE, issue_session(ws, p), path="/ui")
    page = client.get("/ui/registry")
    assert page.status_code == 200 and "credit-gbm" in page.text
    page = client.get("/ui/registry/credit-gbm/1")
    assert page.status_code == 200
    assert "security sign-off" in page.text and f"/ui/evidence/{ids[0]}" in page.text
    assert "content-security-policy" in {k.lower() for k in page.headers}
    assert client.get("/ui/registry/credit-gbm/9").status_code == 404
    q = client.get("/ui/approvals")
    assert q.status_code == 200 and "credit-gbm@1" in q.text
    assert "Change advisory board" in client.get("/ui/governance/cab").text
    assert "security_champion" in client.get("/ui/governance/raci").text
