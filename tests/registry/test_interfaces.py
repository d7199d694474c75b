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
from tests._otp import fresh, mfa_headers
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
    # Version 1 passed no gate: an alias on it is a privileged action (finding 11).
    rc, out, err = run("model", "alias", "credit-gbm", "champion", "1", "--format", "json")
    assert rc == 2 and "passed no gate" in err, err
    rc, _o, err = run("model", "alias", "credit-gbm", "champion", "7")
    assert rc == 2 and "no version or alias '7'" in err
    rc, _o, err = run("model", "register", "other", str(md), "--sign-key", str(md / "k"))
    assert rc == 2 and "go with --mlflow" in err
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
    otp = lambda t: fresh(t.totp_secret)  # noqa: E731  (a code is good once: finding 12)
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
    # Now gated: the alias needs no privilege.
    rc, out, err = run("model", "alias", "credit-gbm", "champion", "1", "--format", "json")
    assert rc == 0 and json.loads(out)["aliases"] == ["champion"], err
    rc, out, _ = run("model", "show", "credit-gbm", "champion", "--format", "json")
    assert json.loads(out)["version"] == "1"
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
    # A move with no gate (archiving) is privileged over the API, like a rollback.
    r = client.post(
        "/api/v1/models/credit-gbm/versions/1/promote", headers=h, json={"to": "archived"}
    )
    assert r.status_code == 403
    r = client.post("/api/v1/models/credit-gbm/versions/1/approvals", headers=h, json={})
    assert r.status_code == 403
    sam = create_token(ws, name="sam", role="approver")
    hs = {"Authorization": f"Bearer {sam.token}"}
    r = client.post("/api/v1/models/credit-gbm/versions/1/approvals", headers=hs, json={})
    assert r.status_code == 403 and "multi-factor" in r.json()["detail"]

    # A TOTP code is good once (finding 12): each privileged request as sam uses a new token.
    def hs_mfa() -> dict[str, str]:
        return mfa_headers(ws, "sam")

    r = client.post("/api/v1/models/credit-gbm/versions/1/approvals", headers=hs_mfa(), json={})
    assert r.status_code == 200, r.text
    r = client.post("/api/v1/models/credit-gbm/versions/1/approvals", headers=hs_mfa(), json={})
    assert r.status_code == 409
    assert len(client.get("/api/v1/approvals", headers=h).json()) == 1
    assert client.get("/api/v1/models/credit-gbm/history", headers=h).status_code == 200
    # Separation of duties: an engineer (who can promote) cannot roll back, change the
    # gate policy or the governance config; an approver can, with MFA only.
    rb = {"to": "1", "reason": "x"}
    assert client.post("/api/v1/models/credit-gbm/rollback", headers=h, json=rb).status_code == 403
    r = client.post("/api/v1/models/credit-gbm/rollback", headers=hs, json=rb)
    assert r.status_code == 403 and "multi-factor" in r.json()["detail"]
    r = client.post("/api/v1/models/credit-gbm/rollback", headers=hs_mfa(), json=rb)
    assert r.status_code == 409  # authorised; refused because 1 never passed its gate
    adm = create_token(ws, name="ops-admin", role="admin")
    ha = {"Authorization": f"Bearer {adm.token}"}
    r = client.post(
        "/api/v1/models/credit-gbm/versions/1/promote", headers=ha, json={"to": "archived"}
    )
    assert r.status_code == 403 and "multi-factor" in r.json()["detail"]
    ha["X-Bastion-OTP"] = pyotp.TOTP(adm.totp_secret).now()
    r = client.post(
        "/api/v1/models/credit-gbm/versions/1/promote", headers=ha, json={"to": "archived"}
    )
    assert r.status_code == 200 and r.json()["transitions"][0]["to"] == "archived"
    assert client.get("/api/v1/gate-policy", headers=h).json()["version"] == 1
    looser = POLICY.read_text().replace("count: 1", "count: 2", 1)
    assert client.put("/api/v1/gate-policy", headers=h, content=looser).status_code == 403
    assert client.put("/api/v1/gate-policy", headers=hs, content=looser).status_code == 403
    assert client.get("/api/v1/gate-policy", headers=h).json()["version"] == 1
    bad = POLICY.read_text().replace("kind: integrity.scan", "kind: nope.nope", 1)
    r = client.put("/api/v1/gate-policy", headers=hs_mfa(), content=bad)
    assert r.status_code == 422 and "unknown evidence kind" in r.json()["detail"]
    # Two-person rule (finding 6): sam's policy is only a proposal until lee approves it.
    r = client.put("/api/v1/gate-policy", headers=hs_mfa(), content=looser)
    assert r.status_code == 202 and r.json()["status"] == "pending", r.text
    prop = r.json()["id"]
    assert client.get("/api/v1/gate-policy", headers=h).json()["version"] == 1
    approve_url = f"/api/v1/governance/proposals/{prop}/approve"
    r = client.post(approve_url, headers=hs_mfa())
    assert r.status_code == 403 and "two-person" in r.json()["detail"]
    r = client.post(approve_url, headers=mfa_headers(ws, "lee"))
    assert r.status_code == 200 and r.json()["result"] == {"version": 2, "changed": True}
    (ev,) = ws.ledger.entries(kind="registry.gate_policy_set", start=1, limit=5)[-1:]
    assert ev.actor.endswith(":lee") and ev.data["approval"]["proposed_by"] == "sam"
    gov = GOVERNANCE.read_bytes()
    assert client.put("/api/v1/governance/config", headers=h, content=gov).status_code == 403
    r = client.put("/api/v1/governance/config", headers=hs_mfa(), content=gov)
    assert r.status_code == 202
    r = client.post(
        f"/api/v1/governance/proposals/{r.json()['id']}/approve", headers=mfa_headers(ws, "lee")
    )
    assert r.status_code == 200 and r.json()["status"] == "applied", r.text
    # Aliases: version 1 passed no gate, so an engineer may not alias it; an approver with
    # MFA may (a privileged action, finding 11).
    r = client.put(
        "/api/v1/models/credit-gbm/aliases", headers=h, json={"alias": "champion", "version": "1"}
    )
    assert r.status_code == 403 and "passed no gate" in r.json()["detail"]
    lead = create_token(ws, name="lead", role="approver")  # a fresh code of its own
    r = client.put(
        "/api/v1/models/credit-gbm/aliases",
        headers={
            "Authorization": f"Bearer {lead.token}",
            "X-Bastion-OTP": pyotp.TOTP(lead.totp_secret).now(),
        },
        json={"alias": "champion", "version": "1"},
    )
    assert r.status_code == 200 and r.json()["aliases"] == ["champion"]
    assert (
        client.get("/api/v1/models/credit-gbm/versions/champion", headers=h).json()["version"]
        == "1"
    )
    r = client.put(
        "/api/v1/models/credit-gbm/aliases", headers=h, json={"alias": "Bad Alias", "version": "1"}
    )
    assert r.status_code == 422
    for path in ("people", "access-reviews", "raci", "boards", "change-requests"):
        assert client.get(f"/api/v1/governance/{path}", headers=h).status_code == 200
    r = client.post(
        "/api/v1/governance/change-requests",
        headers=h,
        json={"title": "t", "target": v.ref, "target_digest": v.digest},
    )
    cr = r.json()["id"]
    r = client.post(
        f"/api/v1/governance/change-requests/{cr}/votes",
        headers=hs_mfa(),
        json={"vote": "approve"},
    )
    assert r.status_code == 200 and r.json()["votes"][0]["voter"] == "sam"
    assert client.get(f"/api/v1/governance/change-requests/{cr}", headers=h).status_code == 200
    e = client.get(
        "/api/v1/governance/escalation", headers=h, params={"severity": "high", "domain": "legal"}
    ).json()
    assert e["notify"] == ["general-counsel"] and e["within_seconds"] == 4 * 3600
    m = client.get("/api/v1/governance/escalation/matrix", headers=h).json()
    assert m["version"] == 1 and m["rules"]


def test_api_people_roles_reviews_and_raci(ws: Workspace, client: TestClient) -> None:
    """Parity with the CLI: people, grants, role transitions, access reviews, RACI; every
    change needs an admin or approver token with MFA and is made as that token's person."""
    from bastion.governance import apply_config, get_person, load_config

    apply_config(ws, load_config(GOVERNANCE), actor="test")
    eng = create_token(ws, name="dana", role="engineer")
    h = {"Authorization": f"Bearer {eng.token}"}
    sam = create_token(ws, name="sam", role="approver")
    hs = {"Authorization": f"Bearer {sam.token}"}

    # A TOTP code is good once (finding 12): each privileged request as sam uses a new token.
    def hs_mfa() -> dict[str, str]:
        return mfa_headers(ws, "sam")

    body = {"id": "kim", "name": "Kim Ops", "roles": ["research"], "grants": ["notebook:x"]}
    assert client.post("/api/v1/governance/people", headers=h, json=body).status_code == 403
    assert client.post("/api/v1/governance/people", headers=hs, json=body).status_code == 403
    r = client.post("/api/v1/governance/people", headers=hs_mfa(), json=body)
    # Finding 6: kim's roles count only once another person attests the review sam opened.
    assert r.status_code == 200 and r.json()["roles"] == []
    assert client.post("/api/v1/governance/people", headers=hs_mfa(), json=body).status_code == 409
    (onboarding,) = client.get(
        "/api/v1/governance/access-reviews", headers=h, params={"status": "open"}
    ).json()
    attest = f"/api/v1/governance/access-reviews/{onboarding['id']}/attest"
    r = client.post(attest, headers=hs_mfa(), json={})
    assert r.status_code == 403 and "two-person" in r.json()["detail"]
    assert client.post(attest, headers=mfa_headers(ws, "lee"), json={}).status_code == 200
    assert get_person(ws, "kim").roles == ("research",)
    r = client.post(
        "/api/v1/governance/people/kim/grants", headers=hs_mfa(), json={"grant": "dataset:x:read"}
    )
    assert [g["grant"] for g in r.json()["grants"]] == ["notebook:x", "dataset:x:read"]
    assert client.get("/api/v1/governance/people/kim", headers=h).json()["name"] == "Kim Ops"
    assert client.get("/api/v1/governance/people/nobody", headers=h).status_code == 404
    r = client.post(
        "/api/v1/governance/people/kim/transition", headers=hs_mfa(), json={"roles": ["operations"]}
    )
    assert r.status_code == 200, r.text
    review = r.json()
    assert review["trigger"] == "role_transition" and review["status"] == "open"
    flagged = {i["grant"] for i in review["items"] if not i["keep"]}
    assert flagged == {"notebook:x", "dataset:x:read"}
    keep = [i["grant_id"] for i in review["items"] if i["grant"] == "dataset:x:read"]
    r = client.post(
        f"/api/v1/governance/access-reviews/{review['id']}/attest", headers=h, json={"keep": keep}
    )
    assert r.status_code == 403
    assert get_person(ws, "kim").roles == ()  # research dropped; operations pending review
    r = client.post(
        f"/api/v1/governance/access-reviews/{review['id']}/attest",
        headers=hs_mfa(),
        json={"keep": keep},
    )
    assert r.status_code == 403 and "two-person" in r.json()["detail"]  # sam proposed it
    r = client.post(
        f"/api/v1/governance/access-reviews/{review['id']}/attest",
        headers=mfa_headers(ws, "lee"),
        json={"keep": keep},
    )
    assert r.status_code == 200 and r.json()["attested_by"] == "lee"
    assert get_person(ws, "kim").roles == ("operations",)
    assert [g for _i, g in get_person(ws, "kim").grants] == ["dataset:x:read"]
    r = client.post("/api/v1/governance/access-reviews", headers=h, json={"person": "kim"})
    assert r.status_code == 200 and r.json()["trigger"] == "periodic"
    r = client.put(
        "/api/v1/governance/raci/system/credit-scoring/owner", headers=h, json={"person": "kim"}
    )
    assert r.status_code == 403
    r = client.put(
        "/api/v1/governance/raci/system/credit-scoring/owner",
        headers=hs_mfa(),
        json={"person": "kim"},
    )
    assert r.status_code == 200 and r.json()["owner"] == "kim"
    r = client.put(
        "/api/v1/governance/raci/system/credit-scoring/boss",
        headers=hs_mfa(),
        json={"person": "kim"},
    )
    assert r.status_code == 422 and "unknown duty" in r.json()["detail"]
    (ev,) = ws.ledger.entries(kind="governance.raci_set", limit=100)[-1:]
    assert ev.data["person"] == "kim" and ev.actor == "sam"


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
    from bastion.governance import create_change_request, vote
    from bastion.registry import approve, promote
    from tests.registry._helpers import approver

    assert not promote(ws, "credit-gbm", "1", "production", actor="dana").promoted
    sam = approver(ws, "sam")
    approve(ws, "credit-gbm", "1", sam)
    cr = create_change_request(
        ws, title="Promote v1", target=v.ref, target_digest=v.digest, board_id="cab",
        requested_by="dana",
    )  # fmt: skip
    for person in ("sam", "lee", "bo"):
        vote(ws, cr.id, sam if person == "sam" else approver(ws, person), "approve")
    assert client.get("/ui/registry", follow_redirects=False).status_code in (302, 303, 307)
    viewer = create_token(ws, name="viewer", role="viewer")
    p = authenticate(ws, viewer.token)
    client.cookies.set(SESSION_COOKIE, issue_session(ws, p), path="/ui")
    page = client.get("/ui/registry")
    assert page.status_code == 200 and "credit-gbm" in page.text
    page = client.get("/ui/registry/credit-gbm/1")
    assert page.status_code == 200
    assert "security sign-off" in page.text and f"/ui/evidence/{ids[0]}" in page.text
    # The approval and the change request behind the approval requirements, and the refusal.
    assert "security_signoff by sam" in page.text and "counted" in page.text
    assert f'href="/ui/governance/cab#cr-{cr.id}"' in page.text
    assert page.text.count('data-testid="refusal-row"') == 1
    assert "approval:security_signoff" in page.text  # the refusal's unmet ids
    for href in ("/ui/registry", "/ui/approvals", "/ui/governance/cab", "/ui/governance/raci"):
        assert f'<a href="{href}"' in page.text  # in the top navigation
    assert "content-security-policy" in {k.lower() for k in page.headers}
    assert client.get("/ui/registry/credit-gbm/9").status_code == 404
    q = client.get("/ui/approvals")
    assert q.status_code == 200 and "credit-gbm@1" in q.text
    cab = client.get("/ui/governance/cab").text
    assert "Change advisory board" in cab and f'id="cr-{cr.id}"' in cab
    assert "security_champion" in client.get("/ui/governance/raci").text


def test_console_shows_a_rolled_back_version_as_revoked(
    ws: Workspace, client: TestClient, tmp_path: Path
) -> None:
    from bastion.registry import promote, rollback
    from tests.registry._helpers import approver
    from tests.registry.test_registry import _clear

    setup(ws)
    sec = approver(ws, "sam")
    voters = {p: approver(ws, p) for p in ("lee", "bo")}
    for n, content in ((1, b"one"), (2, b"two")):
        v = register_model(
            ws, "credit-gbm", model_dir(tmp_path, content), system="credit-scoring", actor="dana"
        )
        _clear(ws, v, sec, voters)
        assert promote(ws, "credit-gbm", str(n), "production", actor="dana").promoted
    rollback(ws, "credit-gbm", "1", reason="bias found in v2", actor="sam")
    viewer = create_token(ws, name="viewer", role="viewer")
    client.cookies.set(
        SESSION_COOKIE, issue_session(ws, authenticate(ws, viewer.token)), path="/ui"
    )
    page = client.get("/ui/registry/credit-gbm/2").text
    assert 'data-testid="revoked"' in page and "bias found in v2" in page
    assert "predates the rollback" in page
    assert 'data-testid="revoked"' not in client.get("/ui/registry/credit-gbm/1").text
    queue = client.get("/ui/approvals").text
    row = queue[queue.index("credit-gbm@2") :]
    assert "blocked" in row[: row.index("</tr>")]


def test_cli_mlflow_import_honours_every_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    assert _cli(home, capsys, "init")[0] == 0
    run = tmp_path / "mlruns" / "0" / "r1"
    art = run / "artifacts" / "model"
    art.mkdir(parents=True)
    (art / "MLmodel").write_text("artifact_path: model\nflavors: {sklearn: {}}\nrun_id: r1\n")
    (art / "model.pkl").write_bytes(b"\x80\x04not-loaded")
    (run / "meta.yaml").write_text("run_id: r1\nexperiment_id: '0'\nuser_id: rui\n")
    from bastion.core.settings import get_settings
    from bastion.core.workspace import open_workspace

    ws = open_workspace(get_settings(home=home))
    try:
        adm = create_token(ws, name="ops-admin", role="admin")
    finally:
        ws.close()
    assert adm.totp_secret is not None
    rc, out, err = _cli(
        home,
        capsys,
        "model",
        "register",
        "credit-mlp",
        str(run),
        "--mlflow",
        "--tier",
        "1",
        "--alias",
        "challenger",
        "--token",
        adm.token,
        "--otp",
        pyotp.TOTP(adm.totp_secret).now(),
        "--author",
        "dana",
        "--dataset",
        "applicants.parquet",
        "--version",
        "7",
        "--actor",
        "dana",
        "--format",
        "json",
    )
    assert rc == 0, err
    v = json.loads(out)
    assert (v["model"], v["version"], v["tier"]) == ("credit-mlp", "7", 1)
    assert v["aliases"] == ["challenger"] and v["datasets"] == ["applicants.parquet"]
    assert set(v["authors"]) == {"dana", "rui"}
    assert v["provenance"]["mlflow"]["run_id"] == "r1"
