"""POST /checks/{id}/run as an attacker would use it (issue 14, findings 1 and 3).

An API caller must never choose which server files a check reads (only paths under the
operator's check roots, never Bastion's home, /proc, /sys, /dev), never see a file's
contents in an error, never pass a precomputed result, and never get evidence recorded
about a digest other than the digest of what the check examined.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bastion.access import Role, create_token
from bastion.api import create_app
from bastion.core.evidence import EvidenceQuery
from bastion.core.settings import get_settings
from bastion.core.workspace import Workspace, init_workspace
from tests.registry._helpers import SIGNER, model_dir, setup

# os.system("id") as a protocol-2 pickle: GLOBAL, one argument, REDUCE.
EVIL_PICKLE = b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00id\x85R."


@pytest.fixture
def models(tmp_path: Path) -> Path:
    d = tmp_path / "models"
    d.mkdir()
    return d


@pytest.fixture
def anchors(tmp_path: Path) -> Path:
    d = tmp_path / "anchors"
    d.mkdir()
    return d


@pytest.fixture
def rws(tmp_path: Path, models: Path, anchors: Path) -> Iterator[Workspace]:
    """The operator lets checks read ``models/`` (and only that), and trusts the keys and
    CA certificates in ``anchors/``."""
    ws, _ = init_workspace(
        get_settings(home=tmp_path / "home", check_roots=[models], trust_anchors=[anchors])
    )
    try:
        yield ws
    finally:
        ws.close()


@pytest.fixture
def client(rws: Workspace) -> Iterator[TestClient]:
    with TestClient(create_app(rws.settings, workspace=rws)) as c:
        yield c


def _engineer(ws: Workspace) -> tuple[dict[str, str], str]:
    t = create_token(ws, name="eve", role=Role.ENGINEER)
    return {"Authorization": f"Bearer {t.token}"}, f"token:{t.info.id}:eve"


def _run(client: TestClient, headers: dict[str, str], check: str, body: dict[str, Any]) -> Any:
    return client.post(f"/api/v1/checks/{check}/run", headers=headers, json=body)


def _state(ws: Workspace) -> tuple[int, int]:
    return len(ws.evidence.list(EvidenceQuery(limit=1000))), ws.ledger.size()


def test_finding_01_check_params_cannot_read_server_files(
    client: TestClient, rws: Workspace, models: Path
) -> None:
    eng, _ = _engineer(rws)
    key = rws.settings.key_dir / "ledger-ed25519.pem"
    secret = key.read_text().splitlines()[1]
    before = _state(rws)
    env = {"kind": "environment", "ref": "x"}
    # The reported exploit: the ledger's private key read as a requirements file.
    for path in (str(key), "/proc/self/environ"):
        r = _run(
            client,
            eng,
            "integrity.dependencies",
            {"subject": env, "params": {"source": "requirements", "path": path}},
        )
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert secret not in r.text and "PRIVATE" not in r.text
    # Listing Bastion's keys or the root directory, by parameter or by subject ref.
    for body in (
        {"subject": {"kind": "model", "ref": "m"}, "params": {"path": str(key.parent)}},
        {"subject": {"kind": "model", "ref": "m"}, "params": {"path": "/"}},
        {"subject": {"kind": "model", "ref": str(key.parent)}},
        {"subject": {"kind": "model", "ref": "m"}, "params": {"path": "../home/keys"}},
    ):
        r = _run(client, eng, "integrity.scan", body)
        assert r.status_code == 422, (body, r.text)
        assert key.name not in r.text
    # The other caller-chosen paths the review named.
    for check, subject, params in [
        ("integrity.dependencies", env, {"osv_db": str(key.parent)}),
        ("integrity.dependencies", env, {"sys_path": ["/"]}),
        ("integrity.bom", {"kind": "model", "ref": "m"}, {"model_dir": "/etc"}),
        ("integrity.signature", {"kind": "model", "ref": "m"}, {"trust_root": [str(key)]}),
        ("integrity.signature", {"kind": "model", "ref": "m"}, {"policy": "/etc/passwd"}),
    ]:
        r = _run(client, eng, check, {"subject": subject, "params": params})
        assert r.status_code == 422, (check, params, r.text)
    assert _state(rws) == before
    # Within a check root, the same check runs, and a bad line is named, never quoted.
    req = models / "requirements.txt"
    req.write_text(f"requests==2.31.0\n{secret}+/\n")
    r = _run(
        client,
        eng,
        "integrity.dependencies",
        {"subject": env, "params": {"source": "requirements", "path": str(req)}},
    )
    assert r.status_code == 200, r.text
    assert r.json()["verdict"] == "error" and secret not in r.text
    assert "requirements.txt:2: not a PEP 508 requirement" in r.json()["data"]["error"]
    # GET /checks says what a caller may set.
    meta = {c["id"]: c for c in client.get("/api/v1/checks", headers=eng).json()}
    assert set(meta["integrity.scan"]["remote_params"]) == {"path"}
    assert meta["threats.questionnaire"]["remote"] is False


def test_finding_01_without_check_roots_no_path_is_accepted(tmp_path: Path) -> None:
    ws, _ = init_workspace(get_settings(home=tmp_path / "home"))
    try:
        d = model_dir(tmp_path / "anywhere")
        with TestClient(create_app(ws.settings, workspace=ws)) as c:
            eng, _ = _engineer(ws)
            r = _run(c, eng, "integrity.scan", {"subject": {"kind": "model", "ref": str(d)}})
            assert r.status_code == 422 and "no check roots are configured" in r.text
    finally:
        ws.close()


def test_finding_03_good_files_under_a_malicious_versions_digest_are_refused(
    client: TestClient, rws: Workspace, models: Path, anchors: Path
) -> None:
    """The reported chain: scan and signature-check the good model's files with the
    subject and digest of a malicious version, so the gate finds passing evidence."""
    from bastion.integrity import record_pki_init, record_pki_issue, record_sign
    from bastion.registry import register_model

    setup(rws)
    good = model_dir(models, b"weights-v1")
    bad = models / "evil"
    bad.mkdir()
    (bad / "model.pkl").write_bytes(EVIL_PICKLE)
    v_good = register_model(rws, "credit-gbm", good, system="credit-scoring", actor="test")
    v_bad = register_model(rws, "credit-gbm", bad, system="credit-scoring", actor="test")
    record_pki_init(rws, organization="Test Bank", actor="test")
    cert = record_pki_issue(rws, SIGNER, hours=1, out_dir=models / "pki", actor="test")
    record_sign(
        rws,
        good,
        cert.key_path,
        name="credit-gbm",
        certificate=cert.cert_path,
        chain=[cert.chain_path],
        actor="test",
    )
    root = anchors / "pki-root.pem"  # the CA certificate, where the operator trusts it
    shutil.copyfile(cert.root_path, root)
    eng, actor = _engineer(rws)
    forged = {"kind": "model", "ref": "credit-scoring/credit-gbm", "digest": v_bad.digest}
    verify = {"model": str(good), "trust_root": [str(root)], "identity": [SIGNER]}
    before = _state(rws)
    r = _run(client, eng, "integrity.scan", {"subject": forged, "params": {"path": str(good)}})
    assert r.status_code == 400, r.text
    assert "not the digest of what check integrity.scan examined" in r.json()["detail"]
    r = _run(client, eng, "integrity.signature", {"subject": forged, "params": verify})
    assert r.status_code == 400, r.text
    assert _state(rws) == before
    assert rws.evidence.list(EvidenceQuery(subject_digest=v_bad.digest)) == []
    gate = client.get(f"/api/v1/models/credit-gbm/versions/{v_bad.version}/gate", headers=eng)
    assert gate.status_code == 200 and gate.json()["satisfied"] is False
    # Honest runs are recorded about what they examined, by the authenticated caller.
    subject = {"kind": "model", "ref": "credit-scoring/credit-gbm"}
    ok = _run(client, eng, "integrity.signature", {"subject": subject, "params": verify})
    assert ok.status_code == 200, ok.text
    assert ok.json()["verdict"] == "pass" and ok.json()["subject"]["digest"] == v_good.digest
    assert ok.json()["actor"] == actor
    scan = _run(client, eng, "integrity.scan", {"subject": forged, "params": {"path": str(bad)}})
    assert scan.status_code == 200, scan.text
    assert scan.json()["verdict"] == "fail" and scan.json()["subject"]["digest"] == v_bad.digest
    assert scan.json()["actor"] == actor


def test_finding_03_precomputed_results_only_in_process(client: TestClient, rws: Workspace) -> None:
    eng, _ = _engineer(rws)
    before = _state(rws)
    forged_result = {"ok": True, "subject": {"name": "m", "digest": "sha256:" + "00" * 32}}
    asset = {"kind": "asset", "ref": "credit-scoring/hosted-llm"}
    for check, subject, params, status in [
        ("integrity.provenance", {"kind": "model", "ref": "m"}, {"result": forged_result}, 422),
        ("threats.model", {"kind": "system", "ref": "credit-scoring"}, {"model": {}}, 422),
        ("threats.questionnaire", asset, {"result": {"asset": "hosted-llm", "findings": []}}, 400),
        ("integrity.sign", {"kind": "model", "ref": "m"}, {}, 400),
    ]:
        r = _run(client, eng, check, {"subject": subject, "params": params})
        assert r.status_code == status, (check, r.text)
    assert _state(rws) == before


def test_finding_03_trust_anchors_are_not_caller_chosen(
    client: TestClient, rws: Workspace, models: Path
) -> None:
    """A caller who could name a CA certificate, public key or Sigstore trust root under a
    check root could bring their own CA, mint the allowed signer identity and satisfy the
    gate's ``valid_signers`` condition: anchors come only from the operator's
    trust_anchors directories."""
    eng, _ = _engineer(rws)
    own_ca = models / "my-ca.pem"  # readable by checks, but not a trusted anchor
    own_ca.write_text("-----BEGIN CERTIFICATE-----\n")
    subject = {"kind": "model", "ref": str(models)}
    before = _state(rws)
    for check, param in [
        ("integrity.signature", "trust_root"),
        ("integrity.signature", "public_key"),
        ("integrity.signature", "sigstore_trust_root"),
        ("integrity.provenance", "trust_root"),
        ("integrity.provenance", "public_key"),
    ]:
        value: Any = str(own_ca) if param == "sigstore_trust_root" else [str(own_ca)]
        params: dict[str, Any] = {param: value}
        if check == "integrity.provenance":
            params["attestation"] = str(own_ca)
        r = _run(client, eng, check, {"subject": subject, "params": params})
        assert r.status_code == 422, (check, param, r.text)
        assert "trust-anchor root" in r.json()["detail"], r.text
    assert _state(rws) == before
