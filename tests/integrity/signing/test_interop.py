"""Interoperability with the real OpenSSF ``model_signing`` CLI, both ways, key and certificate.

Run on the credit-scoring example's trained models.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

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


def _ms_verify_key(model: Path, sig: Path, pub: Path) -> subprocess.CompletedProcess[str]:
    return _ms("verify", "key", str(model), "--signature", str(sig), "--public_key", str(pub))


def test_p384_key_both_ways(model: Path, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    from tests.integrity.signing.conftest import write_key

    priv, pub = write_key(tmp_path, "p384", ec.SECP384R1())
    sig_b = tmp_path / "bastion.sig"
    res = sign_model(model, load_signing_key(priv), signature_path=sig_b)
    assert res.signer["key"].startswith("file:")
    r = _ms_verify_key(model, sig_b, pub)
    assert r.returncode == 0, r.stdout + r.stderr
    sig_m = tmp_path / "ms.sig"
    r = _ms("sign", "key", str(model), "--private_key", str(priv), "--signature", str(sig_m))
    assert r.returncode == 0, r.stdout + r.stderr
    v = verify_model(model, [sig_m], public_keys=[pub])
    assert v.ok, [f.message for f in v.all_findings]
    (model / "config.json").write_text('{"layers": 3}')
    assert _ms_verify_key(model, sig_b, pub).returncode != 0
    assert any("'config.json' was modified" in m.message for m in verify_model(
        model, [sig_m], public_keys=[pub]).all_findings)  # fmt: skip


def test_shard_hashing_both_ways(model: Path, tmp_path: Path) -> None:
    """Files over the shard size are hashed in shards (resource names ``path:start:end``);
    both tools must agree on the shard boundaries, order and digests, at P-256 and P-384."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from model_signing import hashing
    from model_signing import signing as ms_signing
    from model_signing import verifying as ms_verifying

    from tests.integrity.signing.conftest import write_key

    shard = 1_000_000  # the 3 MiB weights file becomes four shards
    for curve in (ec.SECP256R1(), ec.SECP384R1()):
        name = curve.name
        priv, pub = write_key(tmp_path, name, curve)
        sig_b = tmp_path / f"bastion-{name}.sig"
        sign_model(model, load_signing_key(priv), signature_path=sig_b, shard_size=shard)
        payload = _payload(sig_b)
        names = [r["name"] for r in payload["predicate"]["resources"]]
        assert sum(n.startswith("weights.bin:") for n in names) == 4
        assert payload["predicate"]["serialization"]["method"] == "shards"
        # model_signing's CLI always verifies as files; its Python API reads the shard
        # parameters from the signature.
        ms_verifying.Config().use_elliptic_key_verifier(public_key=pub).verify(model, sig_b)
        # model_signing signs with shards (its Python API: the CLI has no shard option).
        sig_m = tmp_path / f"ms-{name}.sig"
        (
            ms_signing.Config()
            .use_elliptic_key_signer(private_key=priv)
            .set_hashing_config(
                hashing.Config()
                .use_shard_serialization(shard_size=shard)
                .set_ignored_paths(paths=[".git", sig_b.name], ignore_git_paths=True)
            )
            .sign(model, sig_m)
        )
        assert _payload(sig_m)["predicate"]["serialization"]["shard_size"] == shard
        v = verify_model(model, [sig_m], public_keys=[pub])
        assert v.ok, [f.message for f in v.all_findings]
        assert v.manifest_digest == verify_model(model, [sig_b], public_keys=[pub]).manifest_digest
    data = bytearray((model / "weights.bin").read_bytes())
    data[2_500_000] ^= 1  # inside the third shard
    (model / "weights.bin").write_bytes(bytes(data))
    v = verify_model(model, [sig_m], public_keys=[pub])
    assert not v.ok and any("weights.bin" in f.message for f in v.all_findings)
    with pytest.raises(ValueError, match=r"weights\.bin"):
        ms_verifying.Config().use_elliptic_key_verifier(public_key=pub).verify(model, sig_b)


def _payload(sig: Path) -> dict:  # type: ignore[type-arg]
    import base64
    import json

    doc = json.loads(sig.read_text())
    return json.loads(base64.b64decode(doc["dsseEnvelope"]["payload"]))  # type: ignore[no-any-return]


def test_p384_certificate_both_ways(model: Path, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    pki_init(keys)
    iss = issue_certificate(
        keys, "ci@bank.example", hours=1, out_dir=tmp_path / "id", curve="P-384"
    )
    sig_b = tmp_path / "bastion.sig"
    sign_model(
        model, load_signing_key(iss.key_path), certificate=iss.cert_path,
        chain=[iss.chain_path], signature_path=sig_b,
    )  # fmt: skip
    r = _ms(
        "verify", "certificate", str(model), "--signature", str(sig_b),
        "--certificate_chain", str(iss.root_path),
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    inter = tmp_path / "inter.pem"
    inter.write_bytes((keys / "pki" / "intermediate.pem").read_bytes())
    sig_m = tmp_path / "ms.sig"
    r = _ms(
        "sign", "certificate", str(model), "--private_key", str(iss.key_path),
        "--signing_certificate", str(iss.cert_path), "--certificate_chain", str(inter),
        "--signature", str(sig_m),
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    v = verify_model(model, [sig_m], trust_roots=[iss.root_path], identities=["ci@bank.example"])
    assert v.ok, [f.message for f in v.all_findings]
