"""A complete synthetic Sigstore instance for offline tests, as sigstore-python's suite does.

It holds its own Fulcio-like CA (root and intermediate), a CT log key that signs the SCT
embedded in every leaf certificate, and a Rekor-like log key that signs the checkpoint of
every inclusion proof and every signed entry timestamp. ``trusted_root()`` writes them as a
``trusted_root.json`` in the Sigstore TrustedRoot protobuf-JSON format; ``sign()`` makes a
real Sigstore bundle v0.3 of a DSSE envelope: a leaf certificate with its SCT embedded, and
one transparency-log entry (``dsse`` 0.0.1, Rekor v1) with its inclusion proof, signed
checkpoint, integrated time and signed entry timestamp.

Every part can be spoiled on purpose (keyword arguments of ``sign``) so the tests can
show that each is checked. Nothing here talks to a network.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import rfc8785
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from bastion.core.ledger import inclusion_proof, leaf_hash, root_from_leaf_hashes
from bastion.integrity.signing._dsse import INTOTO_PAYLOAD_TYPE, pae

OIDC_ISSUER_V1 = ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
OIDC_ISSUER_V2 = ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
SCT_LIST = ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")
IDENTITY = "release@bank.example"
ISSUER = "https://oidc.bank.example"
LOG_ORIGIN = "rekor.test.invalid - 2605736670972794746"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def _spki(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _key_id(key: ec.EllipticCurvePublicKey) -> bytes:
    return hashlib.sha256(_spki(key)).digest()


def _utf8string(value: str) -> bytes:
    raw = value.encode()
    assert len(raw) < 128
    return bytes([0x0C, len(raw)]) + raw


def _octet_string(raw: bytes) -> bytes:
    n = len(raw)
    if n < 128:
        return bytes([0x04, n]) + raw
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x04, 0x80 | len(size)]) + size + raw


def _ca(
    name: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    start: datetime,
) -> x509.Certificate:
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sigstore-test"),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )
    issuer_name = issuer[0].subject if issuer else subject
    signer = issuer[1] if issuer else key
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=3650))
        .add_extension(
            x509.BasicConstraints(ca=True, path_length=None if issuer is None else 0), critical=True
        )
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer is not None:
        b = b.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer[1].public_key()),
            critical=False,
        )
    return b.sign(signer, hashes.SHA384())


@dataclass
class SigstoreWorld:
    """One synthetic Sigstore instance: CA, CT log and transparency log keys."""

    start: datetime = field(default_factory=lambda: datetime.now(UTC) - timedelta(days=30))

    def __post_init__(self) -> None:
        self.root_key = ec.generate_private_key(ec.SECP384R1())
        self.root = _ca("sigstore-test root", self.root_key, None, self.start)
        self.inter_key = ec.generate_private_key(ec.SECP384R1())
        self.inter = _ca(
            "sigstore-test intermediate", self.inter_key, (self.root, self.root_key), self.start
        )
        self.ct_key = ec.generate_private_key(ec.SECP256R1())
        self.log_key = ec.generate_private_key(ec.SECP256R1())
        # Earlier entries of the log, so the inclusion proof has a real path.
        self.leaves: list[bytes] = [leaf_hash(b"earlier entry %d" % i) for i in range(6)]

    # --- the trust root -------------------------------------------------------------

    def trusted_root_json(
        self,
        *,
        log_key: ec.EllipticCurvePrivateKey | None = None,
        ca_until: datetime | None = None,
        log_until: datetime | None = None,
    ) -> dict[str, Any]:
        def valid_for(until: datetime | None) -> dict[str, str]:
            w = {"start": self.start.strftime("%Y-%m-%dT%H:%M:%SZ")}
            if until is not None:
                w["end"] = until.strftime("%Y-%m-%dT%H:%M:%SZ")
            return w

        def tlog(
            key: ec.EllipticCurvePublicKey, url: str, until: datetime | None = None
        ) -> dict[str, Any]:
            return {
                "baseUrl": url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": _b64(_spki(key)),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": valid_for(until),
                },
                "logId": {"keyId": _b64(_key_id(key))},
            }

        return {
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [
                tlog(
                    (log_key or self.log_key).public_key(), "https://rekor.test.invalid", log_until
                )
            ],
            "certificateAuthorities": [
                {
                    "subject": {"organization": "sigstore-test", "commonName": "sigstore-test"},
                    "uri": "https://fulcio.test.invalid",
                    "certChain": {
                        "certificates": [
                            {"rawBytes": _b64(_der(self.inter))},
                            {"rawBytes": _b64(_der(self.root))},
                        ]
                    },
                    "validFor": valid_for(ca_until),
                }
            ],
            "ctlogs": [tlog(self.ct_key.public_key(), "https://ctfe.test.invalid")],
            "timestampAuthorities": [],
        }

    def trusted_root(self, path: Path, **kw: Any) -> Path:
        path.write_text(json.dumps(self.trusted_root_json(**kw), indent=2), encoding="utf-8")
        return path

    def client_trust_config(self, path: Path) -> Path:
        """The same root as model_signing's ``--trust_config`` (ClientTrustConfig) takes it."""
        doc = {
            "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
            "trustedRoot": self.trusted_root_json(),
            "signingConfig": {
                "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
                "caUrls": [],
                "oidcUrls": [],
                "rekorTlogUrls": [],
                "tsaUrls": [],
            },
        }
        path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
        return path

    # --- certificates ---------------------------------------------------------------

    def leaf(
        self,
        key: ec.EllipticCurvePrivateKey,
        *,
        identity: str = IDENTITY,
        issuer: str = ISSUER,
        not_before: datetime,
        minutes: float = 10,
        sct_key: ec.EllipticCurvePrivateKey | None = None,
        with_sct: bool = True,
    ) -> x509.Certificate:
        """A Fulcio-style leaf: empty subject, SAN, code signing, issuer extensions, SCT."""
        b = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.inter.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_before + timedelta(minutes=minutes))
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.inter_key.public_key()),
                critical=False,
            )
            .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(identity)]), critical=True)
            .add_extension(
                x509.UnrecognizedExtension(OIDC_ISSUER_V1, issuer.encode()), critical=False
            )
            .add_extension(
                x509.UnrecognizedExtension(OIDC_ISSUER_V2, _utf8string(issuer)), critical=False
            )
        )
        if not with_sct:
            return b.sign(self.inter_key, hashes.SHA384())
        # The SCT signs the precertificate: this TBS without the SCT list extension.
        pre = b.sign(self.inter_key, hashes.SHA384())
        tbs = pre.tbs_certificate_bytes
        ts = int(not_before.timestamp() * 1000)
        signed = (
            struct.pack("!BBQH", 0, 0, ts, 1)
            + hashlib.sha256(_spki(self.inter_key.public_key())).digest()
            + len(tbs).to_bytes(3, "big")
            + tbs
            + struct.pack("!H", 0)
        )
        ct = sct_key or self.ct_key
        sig = ct.sign(signed, ec.ECDSA(hashes.SHA256()))
        sct = (
            bytes([0])
            + _key_id(self.ct_key.public_key())
            + struct.pack("!Q", ts)
            + struct.pack("!H", 0)
            + bytes([4, 3])  # sha256, ecdsa
            + struct.pack("!H", len(sig))
            + sig
        )
        sct_list = struct.pack("!H", len(sct) + 2) + struct.pack("!H", len(sct)) + sct
        b = b.add_extension(
            x509.UnrecognizedExtension(SCT_LIST, _octet_string(sct_list)), critical=False
        )
        cert = b.sign(self.inter_key, hashes.SHA384())
        assert cert.tbs_precertificate_bytes == tbs
        return cert

    # --- bundles --------------------------------------------------------------------

    def sign(
        self,
        payload: bytes,
        *,
        identity: str = IDENTITY,
        issuer: str = ISSUER,
        signed_at: datetime | None = None,
        integrated_at: datetime | None = None,
        cert_minutes: float = 10,
        log_key: ec.EllipticCurvePrivateKey | None = None,
        checkpoint_key: ec.EllipticCurvePrivateKey | None = None,
        sct_key: ec.EllipticCurvePrivateKey | None = None,
        forge_proof: bool = False,
        with_proof: bool = True,
        with_promise: bool = True,
    ) -> dict[str, Any]:
        """Sign ``payload`` (an in-toto statement) as a Sigstore bundle (JSON object).

        ``log_key`` signs the entry timestamp and, unless ``checkpoint_key`` is given, the
        checkpoint; each defaults to the world's log key (the one in its trust root)."""
        when = signed_at or datetime.now(UTC) - timedelta(minutes=5)
        integrated = integrated_at or when + timedelta(seconds=20)
        key = ec.generate_private_key(ec.SECP256R1())
        cert = self.leaf(
            key,
            identity=identity,
            issuer=issuer,
            not_before=when,
            minutes=cert_minutes,
            sct_key=sct_key,
        )
        sig = key.sign(pae(INTOTO_PAYLOAD_TYPE, payload), ec.ECDSA(hashes.SHA256()))
        envelope = {
            "payload": _b64(payload),
            "payloadType": INTOTO_PAYLOAD_TYPE,
            "signatures": [{"sig": _b64(sig)}],
        }
        pem = cert.public_bytes(serialization.Encoding.PEM)
        body = json.dumps(
            {
                "apiVersion": "0.0.1",
                "kind": "dsse",
                "spec": {
                    "envelopeHash": {
                        "algorithm": "sha256",
                        "value": hashlib.sha256(json.dumps(envelope).encode()).hexdigest(),
                    },
                    "payloadHash": {
                        "algorithm": "sha256",
                        "value": hashlib.sha256(payload).hexdigest(),
                    },
                    "signatures": [{"signature": _b64(sig), "verifier": _b64(pem)}],
                },
            },
            separators=(",", ":"),
        ).encode()
        lk = log_key or self.log_key
        log_id = _key_id(self.log_key.public_key())
        index = len(self.leaves)
        self.leaves.append(leaf_hash(body))
        self.leaves.extend(leaf_hash(b"later entry %d" % i) for i in range(2))
        size = len(self.leaves)
        root = root_from_leaf_hashes(self.leaves)
        proof = inclusion_proof(self.leaves, index, size)
        if forge_proof:
            proof = [hashlib.sha256(b"forged" + p).digest() for p in proof]
        note = f"{LOG_ORIGIN}\n{size}\n{_b64(root)}\n"
        note_sig = (checkpoint_key or lk).sign(note.encode(), ec.ECDSA(hashes.SHA256()))
        checkpoint = f"{note}\n\u2014 rekor.test.invalid {_b64(log_id[:4] + note_sig)}\n"
        t = int(integrated.timestamp())
        set_payload = rfc8785.dumps(
            {"body": _b64(body), "integratedTime": t, "logID": log_id.hex(), "logIndex": index}
        )
        entry: dict[str, Any] = {
            "logIndex": str(index),
            "logId": {"keyId": _b64(log_id)},
            "kindVersion": {"kind": "dsse", "version": "0.0.1"},
            "integratedTime": str(t),
            "canonicalizedBody": _b64(body),
        }
        if with_promise:
            entry["inclusionPromise"] = {
                "signedEntryTimestamp": _b64(lk.sign(set_payload, ec.ECDSA(hashes.SHA256())))
            }
        if with_proof:
            entry["inclusionProof"] = {
                "logIndex": str(index),
                "rootHash": _b64(root),
                "treeSize": str(size),
                "hashes": [_b64(h) for h in proof],
                "checkpoint": {"envelope": checkpoint},
            }
        return {
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {
                "certificate": {"rawBytes": _b64(_der(cert))},
                "tlogEntries": [entry],
            },
            "dsseEnvelope": envelope,
        }


__all__ = ["IDENTITY", "ISSUER", "SigstoreWorld"]
