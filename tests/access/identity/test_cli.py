"""`bastion identity ...` and `bastion pki mtls|revoke|crl|rotate` end to end."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tests._cli import Run, start


@pytest.fixture
def run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Run:
    r = start(tmp_path, capsys)
    (r.home / "identity.yaml").write_text(
        "max_ttl_minutes: 30\ndefault_ttl_minutes: 10\n"
        "delegation:\n  rules:\n    - actor: 'workload:*'\n      subjects: ['user:*']\n"
    )
    return r


def test_identity_commands(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    issued = run.json(
        "identity",
        "issue",
        "--subject",
        "user:alice",
        "--audience",
        "https://bastion.local",
        "--role",
        "reader",
        "--attr",
        "team=risk",
        "--amr",
        "mfa",
    )
    assert issued["subject"] == "user:alice" and issued["claims"]["roles"] == ["reader"]
    rc, out, err = run(
        "identity", "issue", "--subject", "user:alice", "--audience", "a", "--ttl", "31"
    )
    assert rc == 2 and "(0, 30]" in err
    rc, token, _ = run(
        "identity", "issue", "--subject", "workload:agent", "--audience", "https://bastion.local"
    )
    assert rc == 0 and token.count(".") == 2
    # exchange, the subject token read from stdin
    monkeypatch.setattr("sys.stdin", io.StringIO(issued["token"]))
    resp = run.json(
        "identity",
        "exchange",
        "--subject-token",
        "-",
        "--actor-token",
        token.strip(),
        "--audience",
        "scorer",
    )
    assert resp["token_type"] == "Bearer" and resp["expires_in"] <= 600
    ident = run.json("identity", "verify", resp["access_token"], "--audience", "scorer")
    assert ident["id"] == "user:alice" and ident["actors"][0]["subject"] == "workload:agent"
    assert ident["mfa"] is True
    rc, out, err = run("identity", "verify", resp["access_token"], "--audience", "other")
    assert rc == 2 and "another audience" in err
    # revoke, jwks, rotate
    jti = ident["token_id"]
    assert run.json("identity", "revoke", jti)["revoked"] is True
    rc, _, err = run("identity", "verify", resp["access_token"], "--audience", "scorer")
    assert rc == 2 and "revoked" in err
    rc, out, _ = run("identity", "jwks")
    assert rc == 0 and len(json.loads(out)["keys"]) == 1
    rc, out, _ = run("identity", "rotate-key", "--json")
    rot = json.loads(out)
    rc, out, _ = run("identity", "jwks")
    assert {k["kid"] for k in json.loads(out)["keys"]} == {rot["kid"], rot["previous"]}
    # every step is in the ledger, never a token
    from bastion.core.settings import get_settings
    from bastion.core.workspace import open_workspace

    ws = open_workspace(get_settings(home=run.home))
    try:
        kinds = [e.kind for e in ws.ledger.entries(limit=1000)]
        text = json.dumps([e.data for e in ws.ledger.entries(limit=1000)])
    finally:
        ws.close()
    for kind in (
        "identity.token_issued",
        "identity.token_exchanged",
        "identity.token_revoked",
        "identity.key_rotated",
    ):
        assert kind in kinds
    assert issued["token"] not in text and resp["access_token"] not in text


def test_pki_mtls_commands(run: Run, tmp_path: Path) -> None:
    rc, out, err = run("pki", "mtls", "issue", "--service", "scorer", "--out", str(tmp_path))
    assert rc != 0 and "pki init" in err
    assert run("pki", "init")[0] == 0
    c = run.json(
        "pki",
        "mtls",
        "issue",
        "--service",
        "scorer",
        "--dns",
        "localhost",
        "--hours",
        "6",
        "--out",
        str(tmp_path / "certs"),
    )
    assert c["spiffe_id"] == "spiffe://bastion.local/workload/scorer"
    assert Path(c["key"]).stat().st_mode & 0o777 == 0o600
    listed = run.json("pki", "mtls", "list")
    assert [x["serial"] for x in listed] == [c["serial"]]
    # the one PKI's list shows it too
    assert c["serial"] in {x["serial"] for x in run.json("pki", "list")}
    assert run.json("pki", "rotate") == []
    rotated = run.json("pki", "rotate", "--force")
    assert rotated[0]["old"] == c["serial"]
    new = rotated[0]["new"]["serial"]
    rev = run.json("pki", "revoke", new, "--reason", "keyCompromise")
    assert rev["revoked"] and Path(rev["crl"]).exists()
    rc, _, err = run("pki", "revoke", new)
    assert rc == 2 and "already revoked" in err
    assert Path(run.json("pki", "crl")["crl"]).name == "crl.pem"
    states = {x["serial"]: x for x in run.json("pki", "mtls", "list")}
    assert states[new]["revoked"] and states[c["serial"]]["replaced_by"] == new
    rc, out, _ = run("pki", "mtls", "list")
    assert rc == 0 and "revoked" in out
