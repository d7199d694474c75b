"""Signing and verification: tampering named per file, bad input refused, policy enforced."""

from __future__ import annotations

import base64
import json
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from bastion.core.errors import InputError
from bastion.integrity import (
    VerificationPolicy,
    issue_certificate,
    load_policy,
    load_signing_key,
    pki_init,
    sign_model,
    verify_model,
)
from bastion.integrity.signing._sign import sign_statement, write_bundle
from tests.integrity.signing.conftest import write_key


def _messages(res: object) -> list[str]:
    return [f.message for f in res.all_findings]  # type: ignore[attr-defined]


def test_sign_then_verify_ok(model: Path, keypair: tuple[Path, Path]) -> None:
    priv, pub = keypair
    r = sign_model(model, load_signing_key(priv))
    assert r.signature_path == model / "model.sig"
    assert "model.sig" in r.manifest.ignore_paths
    v = verify_model(model, public_keys=[pub])
    assert v.ok, _messages(v)
    assert v.manifest_digest == r.manifest.digest
    assert v.valid_signers == (f"key:{r.signer['key_hint']}",)


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (lambda m: (m / "config.json").write_text('{"layers": 99}'), "'config.json' was modified"),
        (lambda m: (m / "extra.py").write_text("x"), "'extra.py' is not covered"),
        (lambda m: (m / "sub" / "vocab.txt").unlink(), "'sub/vocab.txt' is signed but missing"),
        (
            lambda m: (m / "config.json").rename(m / "config2.json"),
            "'config.json' was renamed to 'config2.json'",
        ),
        (
            lambda m: os.symlink(m / "config.json", m / "alias.json"),
            "'alias.json' is a symbolic link",
        ),
    ],
    ids=["modified", "added", "missing", "renamed", "symlink"],
)
def test_tampering_is_named(model: Path, keypair: tuple[Path, Path], tamper, expected: str) -> None:  # type: ignore[no-untyped-def]
    priv, pub = keypair
    sign_model(model, load_signing_key(priv))
    tamper(model)
    v = verify_model(model, public_keys=[pub])
    assert not v.ok
    assert any(expected in m for m in _messages(v)), _messages(v)


def test_signature_for_another_model(
    model: Path, keypair: tuple[Path, Path], tmp_path: Path
) -> None:
    priv, pub = keypair
    other = tmp_path / "other"
    other.mkdir()
    (other / "w.bin").write_bytes(b"other weights")
    sign_model(other, load_signing_key(priv), signature_path=tmp_path / "other.sig")
    v = verify_model(model, [tmp_path / "other.sig"], public_keys=[pub])
    assert not v.ok
    assert any("signature for another model" in m for m in _messages(v))
    pol = VerificationPolicy(model="tiny")
    v2 = verify_model(model, [tmp_path / "other.sig"], public_keys=[pub], policy=pol)
    assert any("signs model 'other', the policy expects 'tiny'" in m for m in _messages(v2))


def test_wrong_key_is_rejected(model: Path, keypair: tuple[Path, Path], tmp_path: Path) -> None:
    priv, _ = keypair
    _, other_pub = write_key(tmp_path, "other")
    sign_model(model, load_signing_key(priv))
    v = verify_model(model, public_keys=[other_pub])
    assert not v.ok
    assert any("not an allowed key" in m for m in _messages(v))


def test_truncated_and_corrupt_signatures_are_refused(
    model: Path, keypair: tuple[Path, Path]
) -> None:
    priv, pub = keypair
    r = sign_model(model, load_signing_key(priv))
    raw = r.signature_path.read_bytes()
    r.signature_path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(InputError, match=r"model.sig: not a JSON Sigstore bundle \(truncated"):
        verify_model(model, public_keys=[pub])
    d = json.loads(raw)
    d["dsseEnvelope"]["signatures"][0]["sig"] = d["dsseEnvelope"]["signatures"][0]["sig"][:-7]
    r.signature_path.write_text(json.dumps(d))
    with pytest.raises(InputError, match="signature is not valid base64"):
        verify_model(model, public_keys=[pub])


def test_bundle_for_another_payload(
    model: Path, keypair: tuple[Path, Path], tmp_path: Path
) -> None:
    """A valid envelope whose payload was swapped for another statement does not verify."""
    priv, pub = keypair
    r = sign_model(model, load_signing_key(priv))
    d = json.loads(r.signature_path.read_bytes())
    other = tmp_path / "o"
    other.mkdir()
    (other / "x").write_text("x")
    r2 = sign_model(other, load_signing_key(priv), signature_path=tmp_path / "o.sig")
    d2 = json.loads(r2.signature_path.read_bytes())
    d["dsseEnvelope"]["payload"] = d2["dsseEnvelope"]["payload"]
    r.signature_path.write_text(json.dumps(d))
    v = verify_model(model, public_keys=[pub])
    assert any("does not verify over its payload" in m for m in _messages(v))


def test_wrong_key_types_are_refused(tmp_path: Path) -> None:
    rsa_key = tmp_path / "rsa.key"
    rsa_key.write_bytes(
        rsa.generate_private_key(65537, 2048).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    os.chmod(rsa_key, 0o600)
    with pytest.raises(InputError, match=r"needs? an ECDSA P-256 or P-384 key"):
        load_signing_key(rsa_key)
    ed_pub = tmp_path / "ed.pub"
    ed_pub.write_bytes(
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    m = tmp_path / "m"
    m.mkdir()
    (m / "f").write_text("f")
    with pytest.raises(InputError, match="wrong key type"):
        verify_model(m, [m / "model.sig"], public_keys=[ed_pub])
    k224, _ = write_key(tmp_path, "k224", ec.SECP224R1())
    with pytest.raises(InputError, match="curve secp224r1 is not supported"):
        load_signing_key(k224)
    loose, _ = write_key(tmp_path, "loose")
    os.chmod(loose, 0o644)
    with pytest.raises(InputError, match="readable by group or others"):
        load_signing_key(loose)


def test_dotdot_resource_names_are_refused(model: Path, keypair: tuple[Path, Path]) -> None:
    from bastion.integrity._hashing import root_digest

    priv, pub = keypair
    digest = "00" * 32
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "tiny", "digest": {"sha256": root_digest([digest])}}],
        "predicateType": "https://model_signing/signature/v1.0",
        "predicate": {
            "serialization": {"method": "files", "hash_type": "sha256", "allow_symlinks": False},
            "resources": [{"name": "../../etc/passwd", "algorithm": "sha256", "digest": digest}],
        },
    }
    write_bundle(sign_statement(statement, load_signing_key(priv)), model / "model.sig")
    with pytest.raises(
        InputError, match=r"resource '../../etc/passwd' is not a plain relative path"
    ):
        verify_model(model, public_keys=[pub])


def test_inconsistent_manifest_is_refused(model: Path, keypair: tuple[Path, Path]) -> None:
    priv, pub = keypair
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "tiny", "digest": {"sha256": "11" * 32}}],
        "predicateType": "https://model_signing/signature/v1.0",
        "predicate": {
            "serialization": {"method": "files", "hash_type": "sha256", "allow_symlinks": False},
            "resources": [],
        },
    }
    write_bundle(sign_statement(statement, load_signing_key(priv)), model / "model.sig")
    with pytest.raises(InputError, match="inconsistent manifest"):
        verify_model(model, public_keys=[pub])


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    keys = tmp_path / "home-keys"
    pki_init(keys)
    return keys


def test_certificate_signature_identity_policy(model: Path, pki: Path, tmp_path: Path) -> None:
    iss = issue_certificate(pki, "ml-release@example.com", hours=1, out_dir=tmp_path / "id")
    assert iss.key_path.stat().st_mode & 0o777 == 0o600
    assert (pki / "pki" / "root.key").stat().st_mode & 0o777 == 0o600
    sign_model(
        model, load_signing_key(iss.key_path), certificate=iss.cert_path, chain=[iss.chain_path]
    )
    ok = verify_model(model, trust_roots=[iss.root_path], identities=["ml-release@example.com"])
    assert ok.ok, _messages(ok)
    assert ok.signatures[0].signer["time_mode"] == "now"
    wrong = verify_model(model, trust_roots=[iss.root_path], identities=["someone@example.com"])
    assert any("not one of the allowed identities" in m for m in _messages(wrong))
    none = verify_model(model, trust_roots=[iss.root_path])
    assert any("no allowed identities configured" in m for m in _messages(none))
    noroot = verify_model(model, identities=["ml-release@example.com"])
    assert any("no trust root was supplied" in m for m in _messages(noroot))
    other = tmp_path / "other-pki"
    pki_init(other)
    untrusted = verify_model(
        model, trust_roots=[other / "pki" / "root.pem"], identities=["ml-release@example.com"]
    )
    assert any("does not chain to a trusted root" in m for m in _messages(untrusted))


def test_expired_and_revoked_certificates(model: Path, pki: Path, tmp_path: Path) -> None:
    iss = issue_certificate(pki, "https://ci.example.com/release", hours=1, out_dir=tmp_path / "id")
    sign_model(
        model, load_signing_key(iss.key_path), certificate=iss.cert_path, chain=[iss.chain_path]
    )
    later = datetime.now(UTC) + timedelta(hours=2)
    ids = ["https://ci.example.com/release"]
    expired = verify_model(model, trust_roots=[iss.root_path], identities=ids, now=later)
    assert any("is not valid at" in m for m in _messages(expired))
    at_issue = verify_model(
        model,
        trust_roots=[iss.root_path],
        identities=ids,
        now=later,
        policy=VerificationPolicy(time="issuance"),  # type: ignore[arg-type]
    )
    assert at_issue.ok, _messages(at_issue)
    assert at_issue.signatures[0].signer["time_mode"] == "issuance"
    revoked = verify_model(
        model,
        trust_roots=[iss.root_path],
        identities=ids,
        policy=VerificationPolicy(revoked_serials=[iss.info.serial]),
    )
    assert any("is revoked" in m for m in _messages(revoked))
    # A CRL signed by the intermediate revokes the leaf too.
    inter_key = serialization.load_pem_private_key(
        (pki / "pki" / "intermediate.key").read_bytes(), None
    )
    inter = x509.load_pem_x509_certificate((pki / "pki" / "intermediate.pem").read_bytes())
    now = datetime.now(UTC)
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(inter.subject)
        .last_update(now)
        .next_update(now + timedelta(days=1))
        .add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(int(iss.info.serial, 16))
            .revocation_date(now)
            .build()
        )
        .sign(inter_key, hashes.SHA384())  # type: ignore[arg-type]
    )
    crl_path = tmp_path / "leaf.crl"
    crl_path.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    by_crl = verify_model(
        model,
        trust_roots=[iss.root_path],
        identities=ids,
        policy=VerificationPolicy(crls=[str(crl_path)]),
    )
    assert any("revoked by a CRL" in m for m in _messages(by_crl))


def test_trust_root_age_and_required_signatures(
    model: Path, pki: Path, keypair: tuple[Path, Path], tmp_path: Path
) -> None:
    iss = issue_certificate(pki, "a@example.com", hours=1, out_dir=tmp_path / "a")
    sig_a = tmp_path / "a.sig"
    sign_model(
        model,
        load_signing_key(iss.key_path),
        certificate=iss.cert_path,
        chain=[iss.chain_path],
        signature_path=sig_a,
    )
    priv, pub = keypair
    sig_b = tmp_path / "b.sig"
    sign_model(model, load_signing_key(priv), signature_path=sig_b)
    pol = VerificationPolicy(required_signatures=2, allowed_identities=["a@example.com"])
    one = verify_model(model, [sig_a], trust_roots=[iss.root_path], policy=pol)
    assert not one.ok
    assert any("1 valid signer(s), the policy requires 2" in m for m in _messages(one))
    two = verify_model(
        model, [sig_a, sig_b], trust_roots=[iss.root_path], public_keys=[pub], policy=pol
    )
    assert two.ok, _messages(two)
    old = verify_model(
        model,
        [sig_a],
        trust_roots=[iss.root_path],
        policy=VerificationPolicy(allowed_identities=["a@example.com"], max_trust_root_age_days=1),
        now=datetime.now(UTC) + timedelta(days=3),
        # the leaf is expired then too; the root-age finding must still be there
    )
    assert any("trust root" in m and "days old" in m for m in _messages(old))


def test_policy_file(tmp_path: Path, keypair: tuple[Path, Path], model: Path) -> None:
    priv, pub = keypair
    shutil.copy(pub, tmp_path / "release.pub")
    p = tmp_path / "policy.yaml"
    p.write_text("model: tiny\nallowed_keys: [release.pub]\nrequired_signatures: 1\n")
    pol = load_policy(p)
    assert pol.allowed_keys == [str(tmp_path / "release.pub")]
    sign_model(model, load_signing_key(priv))
    assert verify_model(model, policy=pol).ok
    p.write_text("required_signatures: 0\n")
    with pytest.raises(InputError, match=r"policy.yaml: field 'required_signatures'"):
        load_policy(p)
    p.write_text("allowed_signers: [x]\n")
    with pytest.raises(InputError, match=r"field 'allowed_signers': Extra inputs"):
        load_policy(p)
    p.write_text("[unclosed")
    with pytest.raises(InputError, match="not valid YAML"):
        load_policy(p)


def test_trusted_cache_is_reported_and_untrusted_by_default(
    model: Path, keypair: tuple[Path, Path], tmp_path: Path
) -> None:
    priv, pub = keypair
    cache = tmp_path / "c.json"
    sign_model(model, load_signing_key(priv), cache=cache)
    # Poison the cache: a tampered file keeps its (dev, inode, size, mtime) key.
    w = model / "config.json"
    st = w.stat()
    w.write_text('{"layers": 3}')  # same length
    os.utime(w, ns=(st.st_atime_ns, st.st_mtime_ns))
    fresh = verify_model(model, public_keys=[pub], cache=cache)
    assert not fresh.ok
    assert fresh.to_dict()["cache"].startswith("not trusted")
    trusting = verify_model(model, public_keys=[pub], cache=cache, trust_cache=True)
    assert trusting.to_dict()["cache"].startswith("trusted")
    assert trusting.ok  # the documented risk of trusting the cache


def test_p384_and_blake3(model: Path, tmp_path: Path) -> None:
    priv, pub = write_key(tmp_path, "p384", ec.SECP384R1())
    from bastion.integrity import HashAlgorithm

    sign_model(model, load_signing_key(priv), algorithm=HashAlgorithm.BLAKE3, shard_size=1 << 20)
    v = verify_model(model, public_keys=[pub])
    assert v.ok, _messages(v)
    env = json.loads((model / "model.sig").read_text())["dsseEnvelope"]
    st = json.loads(base64.b64decode(env["payload"]))
    assert st["predicate"]["serialization"]["hash_type"] == "blake3"


def test_policy_allowed_keys_restrict_keys_given_on_the_command_line(
    model: Path, tmp_path: Path
) -> None:
    """A policy that allows only key A rejects a model signed by key B, even when B's
    public key is supplied: keys given by the caller verify, they do not widen the policy."""
    d = tmp_path / "k"
    d.mkdir()
    _, pub_a = write_key(d, "a")
    priv_b, pub_b = write_key(d, "b")
    sign_model(model, load_signing_key(priv_b))
    assert verify_model(model, public_keys=[pub_b]).ok  # no policy: the given key decides
    by_file = VerificationPolicy(allowed_keys=[str(pub_a)])
    res = verify_model(model, public_keys=[pub_b], policy=by_file)
    assert not res.ok
    assert any("the policy's allowed_keys do not list" in m for m in _messages(res))
    from bastion.integrity.signing._sign import key_hint, load_public_key

    hint_a = key_hint(load_public_key(pub_a))
    hint_b = key_hint(load_public_key(pub_b))
    by_hint = VerificationPolicy(allowed_keys=[hint_a])
    assert not verify_model(model, public_keys=[pub_b], policy=by_hint).ok
    # The policy's own key (by hint, material from the caller) is what lets it pass.
    assert verify_model(
        model, public_keys=[pub_b], policy=VerificationPolicy(allowed_keys=[hint_b])
    ).ok
    assert verify_model(model, policy=VerificationPolicy(allowed_keys=[str(pub_b)])).ok
    (tmp_path / "p.yaml").write_text(f"allowed_keys: [{pub_a}]\n")
    assert not verify_model(model, public_keys=[pub_b], policy=load_policy(tmp_path / "p.yaml")).ok


def test_policy_identities_restrict_identities_given_on_the_command_line(
    model: Path, pki: Path, tmp_path: Path
) -> None:
    iss = issue_certificate(pki, "b@example.com", hours=1, out_dir=tmp_path / "b")
    sign_model(
        model, load_signing_key(iss.key_path), certificate=iss.cert_path, chain=[iss.chain_path]
    )
    only_a = VerificationPolicy(allowed_identities=["a@example.com"])
    res = verify_model(
        model, trust_roots=[iss.root_path], identities=["b@example.com"], policy=only_a
    )
    assert not res.ok
    assert any("policy allowed_identities" in m for m in _messages(res))
    both = VerificationPolicy(allowed_identities=["a@example.com", "b@example.com"])
    assert verify_model(
        model, trust_roots=[iss.root_path], identities=["b@example.com"], policy=both
    ).ok
    narrowed = verify_model(
        model, trust_roots=[iss.root_path], identities=["a@example.com"], policy=both
    )
    assert any("(--identity)" in m for m in _messages(narrowed))
