"""Scan verdicts and AI-BOMs as signed in-toto attestations over the model's manifest
digest (CLI, Python, API), and TrainingRun provenance as ledger evidence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bastion.access import Role, create_token
from bastion.api import create_app
from bastion.core.errors import InputError
from bastion.core.evidence import EvidenceQuery
from bastion.core.workspace import Workspace
from bastion.integrity import (
    CYCLONEDX_BOM_PREDICATE,
    SCAN_VERDICT_PREDICATE,
    SLSA_PROVENANCE_V1,
    TrainingRun,
    generate_ai_bom,
    load_signing_key,
    record_attest_bom,
    record_attest_scan,
    scan_path,
    signed_manifest,
    verify_attestation,
)
from tests.integrity.signing.test_cli_api import Run, run  # noqa: F401  (fixture)


def test_cli_scan_and_bom_attestations_name_the_signature_digest(
    run: Run,  # noqa: F811
    gbm: Path,
    tmp_path: Path,
) -> None:
    iss = run.json("pki", "init") and run.json(
        "pki", "issue", "--identity", "release@bank.example", "--out", str(tmp_path / "id")
    )
    cert = ["--certificate", iss["certificate"], "--chain", iss["chain"]]
    signed = run.json("model", "sign", str(gbm), "--key", iss["key"], *cert)
    scan = run.json("model", "scan", str(gbm), "--attest", iss["key"], *cert)
    att = scan["attestation"]
    assert att["subject"]["digest"] == signed["digest"]
    assert Path(att["attestation"]).parent == gbm.parent  # next to the model, not inside
    v = run.json(
        "model", "verify-attestation", att["attestation"], "--model", str(gbm),
        "--trust-root", iss["trust_root"], "--identity", "release@bank.example",
        "--type", SCAN_VERDICT_PREDICATE,
    )  # fmt: skip
    assert v["ok"], v
    chk = verify_attestation(
        Path(att["attestation"]), trust_roots=[Path(iss["trust_root"])],
        identities=["release@bank.example"],
    )  # fmt: skip
    assert chk.predicate["verdict"] == scan["verdict"] == "safe"
    assert {f["path"] for f in chk.predicate["files"]} == {r["path"] for r in scan["files"]}
    rc, out, err = run("bom", str(gbm), "--attest", iss["key"], *cert, "--no-environment")
    assert rc == 0, err
    bom = json.loads(out)  # stdout is still the BOM alone
    bom_att = gbm.parent / f"{gbm.name}.bom.sigstore.json"
    chk = verify_attestation(
        bom_att, trust_roots=[Path(iss["trust_root"])], identities=["release@bank.example"],
        predicate_type=CYCLONEDX_BOM_PREDICATE, expected_digest=signed["digest"],
    )  # fmt: skip
    assert chk.ok, chk.findings
    assert chk.predicate["serialNumber"] == bom["serialNumber"]
    assert run("model", "scan", str(gbm), "--certificate", iss["certificate"])[0] == 2


def test_attestations_are_ledger_evidence_with_the_bundle(
    ws: Workspace, gbm: Path, keypair: tuple[Path, Path]
) -> None:
    priv, pub = keypair
    report = scan_path(gbm)
    summary, ev = record_attest_scan(ws, report, priv, name="cs/credit-gbm", actor="t")
    digest = signed_manifest(gbm).digest
    assert ev.check_id == "integrity.provenance" and ev.ledger_seq is not None
    assert ev.subject.digest == f"sha256:{digest}" == summary.subject_digest
    blob = ev.data["attachments"]["attestation.sigstore.json"]
    assert ws.blobs.get(blob) == Path(str(summary.attestation)).read_bytes()
    bom_ev, document = generate_ai_bom(ws, gbm, environment=False)
    assert bom_ev.subject.digest == f"sha256:{digest}"  # the BOM names the same digest
    s2, ev2 = record_attest_bom(ws, gbm, document, priv, name="cs/credit-gbm")
    assert ev2.subject.digest == ev.subject.digest
    chk = verify_attestation(Path(str(s2.attestation)), public_keys=[pub], expected_digest=digest)
    assert chk.ok and chk.predicate_type == CYCLONEDX_BOM_PREDICATE
    (gbm / "extra.txt").write_text("changed after the BOM was built")
    with pytest.raises(InputError, match="rebuild the BOM"):
        record_attest_bom(ws, gbm, document, priv)
    from bastion.integrity.signing._attest_results import attest_scan

    with pytest.raises(InputError, match="not of"):
        attest_scan(gbm, scan_path(gbm / "metadata.json"), load_signing_key(priv))


def test_api_scan_upload_attested_with_the_workspace_key(ws: Workspace, tmp_path: Path) -> None:
    import pickle

    body = pickle.dumps({"w": [1.0, 2.0]}, protocol=4)
    tok = create_token(ws, name="eng", role=Role.ENGINEER)
    h = {"Authorization": f"Bearer {tok.token}"}
    with TestClient(create_app(ws.settings, workspace=ws)) as c:
        r = c.post(
            "/api/v1/models/scan",
            params={"name": "w.pkl", "attest": "true"},
            content=body,
            headers=h | {"Content-Type": "application/octet-stream"},
        )
        assert r.status_code == 200, r.text
        doc = r.json()
        pem = c.get("/api/v1/models/attestation-key", headers=h).json()["public_key"]
    att = doc["attestation"]
    (tmp_path / "w.pkl").write_bytes(body)
    digest = signed_manifest(tmp_path / "w.pkl").digest
    assert att["subject"] == {"name": "w.pkl", "digest": f"sha256:{digest}"}
    # The scan evidence names the same digest: what a registry version of this file stores.
    assert doc["digest"] == f"sha256:{digest}"
    scan_ev = ws.evidence.get(doc["evidence"])
    assert scan_ev.subject.digest == f"sha256:{digest}"
    import hashlib

    assert doc["sha256"] == hashlib.sha256(body).hexdigest()
    (tmp_path / "key.pub").write_text(pem)
    (tmp_path / "b.json").write_text(json.dumps(att["bundle"]))
    chk = verify_attestation(
        tmp_path / "b.json", public_keys=[tmp_path / "key.pub"], expected_digest=digest,
        predicate_type=SCAN_VERDICT_PREDICATE,
    )  # fmt: skip
    assert chk.ok, chk.findings
    assert chk.predicate["verdict"] == "safe"
    key_file = ws.settings.key_dir / "integrity-attest-p256.pem"
    assert key_file.stat().st_mode & 0o777 == 0o600


def test_training_run_writes_ledger_evidence(
    ws: Workspace, tmp_path: Path, keypair: tuple[Path, Path]
) -> None:
    priv, pub = keypair
    out = tmp_path / "model"
    data = tmp_path / "train.csv"
    data.write_text("x,y\n1,0\n")
    with TrainingRun(
        output=out, key=load_signing_key(priv), builder_id="https://ci.example/train",
        data=[data], workspace=ws, name="cs/model", actor="ci",
    ) as tr:  # fmt: skip
        tr.hyperparameters["lr"] = 0.1
        out.mkdir()
        (out / "w.bin").write_bytes(b"w")
    ev = tr.evidence
    assert ev is not None and ev.check_id == "integrity.provenance"
    assert ev.subject.ref == "cs/model" and ev.subject.digest == f"sha256:{tr.manifest_digest}"
    assert ev.data["predicate_type"] == SLSA_PROVENANCE_V1
    assert ev.data["hyperparameters"] == {"lr": 0.1}
    assert ev.data["packages"] > 10  # the environment, as pkg:pypi dependencies
    assert ev.data["training_data"] == {
        "train.csv": f"sha256:{tr.summary['training_data']['train.csv'].removeprefix('sha256:')}"
    }  # type: ignore[index]
    stored = ws.evidence.list(
        EvidenceQuery(check_id="integrity.provenance", subject_ref="cs/model")
    )
    assert [e.id for e in stored] == [ev.id]
    assert tr.attestation_path is not None
    assert verify_attestation(tr.attestation_path, public_keys=[pub]).ok
