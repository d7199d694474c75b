"""Interoperability with the real OpenSSF ``model_signing`` CLI, both ways, key and certificate.

Run on the credit-scoring example's trained models.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from bastion.integrity import (
    issue_certificate,
    load_signing_key,
    pki_init,
    sign_model,
    verify_model,
)
from tests.integrity.signing.conftest import MODEL_SIGNING


def _ms(*args: str) -> subprocess.CompletedProcess[str]:
    assert MODEL_SIGNING.exists(), (
        f"the model_signing CLI is required at {MODEL_SIGNING} (dev dependency)"
    )
    return subprocess.run(
        [str(MODEL_SIGNING), *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_bastion_key_signature_verifies_with_model_signing(
    gbm: Path, keypair: tuple[Path, Path]
) -> None:
    priv, pub = keypair
    sign_model(gbm, load_signing_key(priv))
    r = _ms(
        "verify", "key", str(gbm), "--signature", str(gbm / "model.sig"), "--public_key", str(pub)
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Verification succeeded" in r.stdout
    victim = next(p for p in sorted(gbm.iterdir()) if p.name != "model.sig")
    victim.write_bytes(victim.read_bytes() + b" ")
    r = _ms(
        "verify", "key", str(gbm), "--signature", str(gbm / "model.sig"), "--public_key", str(pub)
    )
    assert r.returncode != 0


def test_model_signing_key_signature_verifies_with_bastion(
    gbm: Path, keypair: tuple[Path, Path], tmp_path: Path
) -> None:
    priv, pub = keypair
    sig = tmp_path / "ms.sig"
    r = _ms("sign", "key", str(gbm), "--private_key", str(priv), "--signature", str(sig))
    assert r.returncode == 0, r.stdout + r.stderr
    v = verify_model(gbm, [sig], public_keys=[pub])
    assert v.ok, [f.message for f in v.all_findings]
    victim = next(p for p in sorted(gbm.iterdir()) if p.is_file() and p.name != "model.sig")
    victim.write_bytes(b"tampered")
    v = verify_model(gbm, [sig], public_keys=[pub])
    assert any(f"'{victim.name}' was modified" in f.message for f in v.all_findings)


def test_certificate_method_both_ways(gbm: Path, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    pki_init(keys)
    iss = issue_certificate(keys, "release@bank.example", hours=2, out_dir=tmp_path / "id")
    # Bastion signs, model_signing verifies against the Bastion root.
    sig_b = tmp_path / "bastion.sig"
    sign_model(
        gbm,
        load_signing_key(iss.key_path),
        certificate=iss.cert_path,
        chain=[iss.chain_path],
        signature_path=sig_b,
    )
    r = _ms(
        "verify",
        "certificate",
        str(gbm),
        "--signature",
        str(sig_b),
        "--certificate_chain",
        str(iss.root_path),
    )
    assert r.returncode == 0, r.stdout + r.stderr
    # model_signing signs with the Bastion-issued certificate, Bastion verifies chain + identity.
    sig_m = tmp_path / "ms.sig"
    inter = tmp_path / "inter.pem"
    inter.write_bytes((keys / "pki" / "intermediate.pem").read_bytes())
    r = _ms(
        "sign", "certificate", str(gbm),
        "--private_key", str(iss.key_path),
        "--signing_certificate", str(iss.cert_path),
        "--certificate_chain", str(inter),
        "--signature", str(sig_m),
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    v = verify_model(gbm, [sig_m], trust_roots=[iss.root_path], identities=["release@bank.example"])
    assert v.ok, [f.message for f in v.all_findings]
    assert v.signatures[0].signer["identities"] == ["release@bank.example"]
    v = verify_model(gbm, [sig_m], trust_roots=[iss.root_path], identities=["mallory@bank.example"])
    assert not v.ok
