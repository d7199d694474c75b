"""PKCS#11 keys in SoftHSM2, named by RFC 7512 URIs; the signature interoperates."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from bastion.core.errors import InputError
from bastion.integrity import load_signing_key, sign_model, verify_model
from bastion.integrity.signing._pkcs11 import DEFAULT_MODULE, parse_pkcs11_uri
from tests.integrity.signing.conftest import MODEL_SIGNING

pytestmark = pytest.mark.hsm


@pytest.fixture
def token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    if shutil.which("softhsm2-util") is None or not Path(DEFAULT_MODULE).exists():
        pytest.fail("SoftHSM2 is required for HSM tests: install the Debian package softhsm2")
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\n")
    monkeypatch.setenv("SOFTHSM2_CONF", str(conf))
    subprocess.run(
        [
            "softhsm2-util",
            "--init-token",
            "--free",
            "--label",
            "models",
            "--pin",
            "1234",
            "--so-pin",
            "5678",
        ],
        check=True,
        capture_output=True,
    )
    import pkcs11
    from pkcs11 import KeyType, Mechanism
    from pkcs11.util.ec import encode_named_curve_parameters

    lib = pkcs11.lib(DEFAULT_MODULE)
    lib.reinitialize()
    tok = lib.get_token(token_label="models")
    with tok.open(user_pin="1234", rw=True) as s:
        params = s.create_domain_parameters(
            KeyType.EC,
            {pkcs11.Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")},
            local=True,
        )
        params.generate_keypair(mechanism=Mechanism.EC_KEY_PAIR_GEN, store=True, label="release")
    return "pkcs11:token=models;object=release"


def test_sign_with_hsm_key_and_verify_both_tools(token: str, tmp_path: Path) -> None:
    m = tmp_path / "m"
    m.mkdir()
    (m / "w.bin").write_bytes(b"\x00" * 5000)
    key = load_signing_key(token + "?pin-value=1234")
    assert key.description == "pkcs11:token=models;object=release"  # no PIN
    res = sign_model(m, key)
    assert res.signer["key"] == "pkcs11:token=models;object=release"
    pub = tmp_path / "hsm.pub"
    pub.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    assert verify_model(m, public_keys=[pub]).ok
    r = subprocess.run(
        [
            str(MODEL_SIGNING),
            "verify",
            "key",
            str(m),
            "--signature",
            str(m / "model.sig"),
            "--public_key",
            str(pub),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    pin = tmp_path / "pin"
    pin.write_text("1234\n")
    assert load_signing_key(f"{token}?pin-source=file:{pin}").public_key() == key.public_key()


def test_bad_uris_and_pins(token: str) -> None:
    with pytest.raises(InputError, match="wrong PIN"):
        load_signing_key(token + "?pin-value=0000")
    with pytest.raises(InputError, match="no such key"):
        load_signing_key("pkcs11:token=models;object=nope?pin-value=1234")
    with pytest.raises(InputError, match="no such token"):
        load_signing_key("pkcs11:token=absent;object=release?pin-value=1234")
    with pytest.raises(InputError, match="unknown or malformed path attribute 'bogus'"):
        parse_pkcs11_uri("pkcs11:bogus=1;object=x")
    with pytest.raises(InputError, match="name the key"):
        parse_pkcs11_uri("pkcs11:token=models")
