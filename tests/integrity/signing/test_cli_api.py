"""End to end: every signing command through ``bastion.cli.main.main``, the API routes,
provenance attestations, and the evidence each operation leaves in the ledger."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bastion.access import Role, create_token
from bastion.api import create_app
from bastion.core.workspace import Workspace
from bastion.integrity import (
    SLSA_PROVENANCE_V1,
    TrainingRun,
    attest,
    load_signing_key,
    record_sign,
    record_verify,
    verify_attestation,
)
from tests._cli import Run, start


@pytest.fixture
def run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Run:
    return start(tmp_path, capsys)


def test_cli_hash_sign_verify_attest(
    run: Run, gbm: Path, keypair: tuple[Path, Path], tmp_path: Path
) -> None:
    priv, pub = keypair
    h = run.json("model", "hash", str(gbm))
    assert h["files"] == len([p for p in gbm.iterdir()])
    rc, out, _ = run("model", "hash", str(gbm), "--algorithm", "blake3")
    assert rc == 0 and "blake3" in out
    s = run.json("model", "sign", str(gbm), "--key", str(priv), "--name", "credit-gbm")
    assert s["digest"] == h["digest"] and s["ledger_seq"] is not None
    v = run.json("model", "verify", str(gbm), "--public-key", str(pub), "--name", "credit-gbm")
    assert v["ok"] and v["cache"].startswith("not trusted")
    rc, out, _ = run("model", "verify", str(gbm), "--public-key", str(pub))
    assert rc == 0 and "verified" in out
    (gbm / "added.txt").write_text("x")
    v = run.json(
        "model", "verify", str(gbm), "--public-key", str(pub), "--name", "credit-gbm", rc=1
    )
    assert any("'added.txt'" in f["message"] for f in v["findings"])
    (gbm / "added.txt").unlink()
    data = tmp_path / "train.csv"
    data.write_text("a,b\n1,2\n")
    a = run.json(
        "model", "attest", str(gbm), "--key", str(priv), "--builder", "https://ci.example/train",
        "--data", str(data), "-p", "lr=0.1", "--commit", "a" * 40, "--no-packages", "--name", "credit-gbm",
    )  # fmt: skip
    assert a["subject"]["digest"] == h["digest"]
    assert a["training_data"]["train.csv"].startswith("sha256:")
    va = run.json(
        "model",
        "verify-attestation",
        a["attestation"],
        "--model",
        str(gbm),
        "--public-key",
        str(pub),
    )
    assert va["ok"] and va["predicate_type"] == SLSA_PROVENANCE_V1
    ev = run.json("evidence", "list", "--subject", "credit-gbm")
    assert isinstance(ev, list)
    checks = {e["check_id"]: e["verdict"] for e in ev}  # newest first per check
    assert {"integrity.sign", "integrity.signature", "integrity.provenance"} <= set(checks)
    # Passing evidence names the signed digest; the tampered run names what it found.
    assert all(e["subject"]["digest"] == h["digest"] for e in ev if e["verdict"] == "pass")
    assert any(e["subject"]["digest"] != h["digest"] for e in ev if e["verdict"] == "fail")
    assert run("ledger", "verify")[0] == 0


def test_cli_errors_are_one_line_exit_2(run: Run, gbm: Path, keypair: tuple[Path, Path]) -> None:
    _priv, pub = keypair
    rc, _, err = run("model", "sign", str(gbm), "--key", str(gbm / "nope.pem"))
    assert rc == 2 and "private key file not found" in err
    (gbm / "model.sig").write_text(
        '{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "verif'
    )
    rc, _, err = run("model", "verify", str(gbm), "--public-key", str(pub))
    assert rc == 2 and "truncated" in err
    ev = run.json("evidence", "list", "--check", "integrity.signature")
    assert ev[0]["verdict"] == "error"
    rc, _, err = run("model", "hash", str(gbm), "--algorithm", "md5")
    assert rc == 2 and "expected sha256 or blake3" in err


def test_cli_pki_and_certificate_signing(run: Run, gbm: Path, tmp_path: Path) -> None:
    info = run.json("pki", "init")
    assert info["created"] is True
    assert run.json("pki", "init")["created"] is False
    iss = run.json(
        "pki",
        "issue",
        "--identity",
        "release@bank.example",
        "--hours",
        "2",
        "--out",
        str(tmp_path / "id"),
    )
    assert Path(iss["key"]).stat().st_mode & 0o777 == 0o600
    rc, _, err = run("pki", "issue", "--identity", "x y", "--out", str(tmp_path / "id2"))
    assert rc == 2 and "identity 'x y'" in err
    listed = run.json("pki", "list")
    assert [c["role"] for c in listed] == ["root", "intermediate", "leaf"]
    run.json(
        "model",
        "sign",
        str(gbm),
        "--key",
        iss["key"],
        "--certificate",
        iss["certificate"],
        "--chain",
        iss["chain"],
    )
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        f"allowed_identities: [release@bank.example]\ntrust_roots: [{iss['trust_root']}]\n"
    )
    v = run.json("model", "verify", str(gbm), "--policy", str(policy))
    assert v["ok"] and v["signatures"][0]["signer"]["identities"] == ["release@bank.example"]
    policy.write_text(
        f"allowed_identities: [other@bank.example]\ntrust_roots: [{iss['trust_root']}]\n"
    )
    v = run.json("model", "verify", str(gbm), "--policy", str(policy), rc=1)
    assert not v["ok"]
    # --identity narrows the policy; it cannot add the signer the policy leaves out.
    v = run.json(
        "model", "verify", str(gbm), "--policy", str(policy),
        "--identity", "release@bank.example", rc=1,
    )  # fmt: skip
    assert not v["ok"]


def test_cli_public_key_does_not_widen_the_policy(
    run: Run, gbm: Path, keypair: tuple[Path, Path], tmp_path: Path
) -> None:
    from tests.integrity.signing.conftest import write_key

    priv_b, pub_b = keypair
    (tmp_path / "a").mkdir()
    _, pub_a = write_key(tmp_path / "a", "a")
    run.json("model", "sign", str(gbm), "--key", str(priv_b))
    policy = tmp_path / "only-a.yaml"
    policy.write_text(f"allowed_keys: [{pub_a}]\n")
    v = run.json(
        "model", "verify", str(gbm), "--policy", str(policy), "--public-key", str(pub_b), rc=1
    )
    assert not v["ok"]
    assert "allowed_keys do not list" in json.dumps(v)
    assert run.json("model", "verify", str(gbm), "--public-key", str(pub_b))["ok"]


def test_api_routes(ws: Workspace, gbm: Path, keypair: tuple[Path, Path]) -> None:
    priv, pub = keypair
    record_sign(ws, gbm, priv, name="credit-gbm", actor="test")
    res, ev = record_verify(ws, gbm, name="credit-gbm", public_keys=[pub], actor="test")
    assert res is not None and res.ok and ev.ledger_seq is not None
    from bastion.integrity import record_pki_init

    record_pki_init(ws)
    tok = create_token(ws, name="viewer", role=Role.VIEWER)
    h = {"Authorization": f"Bearer {tok.token}"}
    with TestClient(create_app(ws.settings, workspace=ws)) as c:
        assert c.get("/api/v1/models/signatures").status_code == 401
        r = c.get("/api/v1/models/signatures", params={"ref": "credit-gbm"}, headers=h)
        assert r.status_code == 200
        assert [e["check_id"] for e in r.json()] == ["integrity.signature", "integrity.sign"]
        assert r.json()[0]["data"]["ok"] is True
        r = c.get("/api/v1/models/signatures", params={"check": "integrity.sign"}, headers=h)
        assert len(r.json()) == 1
        assert (
            c.get("/api/v1/models/signatures", params={"check": "x"}, headers=h).status_code == 422
        )
        r = c.get("/api/v1/pki/certificates", headers=h)
        assert [x["role"] for x in r.json()] == ["root", "intermediate"]


def test_training_run_context_manager_and_generic_attest(
    tmp_path: Path, keypair: tuple[Path, Path]
) -> None:
    priv, pub = keypair
    key = load_signing_key(priv)
    data = tmp_path / "data.csv"
    data.write_text("x\n1\n")
    out = tmp_path / "model"
    with TrainingRun(
        output=out,
        key=key,
        builder_id="https://ci.example/train",
        data=[data],
        include_packages=False,
    ) as tr:
        tr.hyperparameters["epochs"] = 3
        out.mkdir()
        (out / "w.bin").write_bytes(b"weights")
    assert tr.attestation_path is not None and tr.attestation_path.exists()
    chk = verify_attestation(
        tr.attestation_path, public_keys=[pub], expected_digest=tr.manifest_digest
    )
    assert chk.ok, chk.findings
    bd = chk.predicate["buildDefinition"]
    assert bd["externalParameters"]["hyperparameters"] == {"epochs": 3}
    assert chk.predicate["runDetails"]["builder"]["id"] == "https://ci.example/train"
    (out / "w.bin").write_bytes(b"other weights")
    from bastion.integrity import hash_model

    bad = verify_attestation(
        tr.attestation_path, public_keys=[pub], expected_digest=hash_model(out).digest
    )
    assert any("other digests" in f.message for f in bad.findings)
    # A failed run attests nothing.
    out2 = tmp_path / "m2"
    with pytest.raises(RuntimeError), TrainingRun(output=out2, key=key, builder_id="b") as tr2:
        raise RuntimeError("training crashed")
    assert tr2.bundle is None
    # The generic attest() for scan verdicts and AI-BOMs, over the same digest.
    path = tmp_path / "scan.sigstore.json"
    attest(
        "https://bastion.dev/scan/v1",
        {"verdict": "safe"},
        {"model": tr.manifest_digest or ""},
        key,
        out=path,
    )
    chk = verify_attestation(
        path,
        public_keys=[pub],
        predicate_type="https://bastion.dev/scan/v1",
        expected_digest=tr.manifest_digest,
    )
    assert chk.ok and chk.predicate == {"verdict": "safe"}
    wrong_type = verify_attestation(path, public_keys=[pub], predicate_type=SLSA_PROVENANCE_V1)
    assert not wrong_type.ok
