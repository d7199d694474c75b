"""Sigstore bundle v0.3 JSON: the container of a model signature (DSSE + key or chain)."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bastion.core.errors import InputError
from bastion.integrity.signing._dsse import Envelope, b64decode

__all__ = ["BUNDLE_MEDIA_TYPE", "MAX_BUNDLE_BYTES", "Bundle", "key_hint", "read_bundle"]

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
MAX_BUNDLE_BYTES = 256 * 1024 * 1024


def key_hint(public_key: ec.EllipticCurvePublicKey) -> str:
    """model-signing's key identifier: SHA-256 of the SubjectPublicKeyInfo PEM."""
    pem = public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(pem).hexdigest()


@dataclass(frozen=True)
class Bundle:
    envelope: Envelope
    key_hint: str | None = None
    chain: tuple[x509.Certificate, ...] = field(default=())
    tlog_entries: int = 0
    media_type: str = BUNDLE_MEDIA_TYPE

    def to_json(self) -> dict[str, Any]:
        vm: dict[str, Any]
        if self.chain:
            vm = {
                "x509CertificateChain": {
                    "certificates": [
                        {
                            "rawBytes": base64.b64encode(
                                c.public_bytes(serialization.Encoding.DER)
                            ).decode()
                        }
                        for c in self.chain
                    ]
                },
                "tlogEntries": [],
            }
        else:
            vm = {"publicKey": {"hint": self.key_hint or ""}, "tlogEntries": []}
        return {
            "mediaType": self.media_type,
            "verificationMaterial": vm,
            "dsseEnvelope": self.envelope.to_json(),
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2) + "\n"


def _certs(items: object, source: str) -> tuple[x509.Certificate, ...]:
    if not isinstance(items, list) or not items:
        raise InputError(f"{source}: certificate chain is empty")
    out = []
    for i, c in enumerate(items):
        raw = b64decode(
            c.get("rawBytes") if isinstance(c, dict) else None, f"certificate {i}", source
        )
        try:
            out.append(x509.load_der_x509_certificate(raw))
        except ValueError:
            raise InputError(f"{source}: certificate {i} is not a valid DER certificate") from None
    return tuple(out)


def read_bundle(path: Path) -> Bundle:
    """Parse a bundle file strictly; every malformed part is refused with its name."""
    source = str(path)
    try:
        size = path.stat().st_size
    except OSError:
        raise InputError(f"{source}: signature file not found") from None
    if size > MAX_BUNDLE_BYTES:
        raise InputError(f"{source}: signature larger than {MAX_BUNDLE_BYTES} bytes; refusing")
    return parse_bundle(path.read_bytes(), source)


def parse_bundle(data: bytes, source: str) -> Bundle:
    try:
        d = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise InputError(
            f"{source}: not a JSON Sigstore bundle (truncated or corrupted signature?)"
        ) from None
    if not isinstance(d, dict):
        raise InputError(f"{source}: a Sigstore bundle must be a JSON object")
    media = d.get("mediaType")
    if not isinstance(media, str) or not media.startswith("application/vnd.dev.sigstore.bundle"):
        raise InputError(f"{source}: mediaType {media!r} is not a Sigstore bundle")
    vm = d.get("verificationMaterial")
    if not isinstance(vm, dict):
        raise InputError(f"{source}: verificationMaterial is missing")
    if "dsseEnvelope" not in d:
        raise InputError(f"{source}: no dsseEnvelope (message signatures are not model signatures)")
    env = Envelope.from_json(d["dsseEnvelope"], source)
    tlog = vm.get("tlogEntries") or []
    n_tlog = len(tlog) if isinstance(tlog, list) else 0
    if "x509CertificateChain" in vm:
        chain_obj = vm["x509CertificateChain"]
        certs = _certs(
            chain_obj.get("certificates") if isinstance(chain_obj, dict) else None, source
        )
        return Bundle(env, chain=certs, tlog_entries=n_tlog, media_type=media)
    if "certificate" in vm:
        return Bundle(
            env, chain=_certs([vm["certificate"]], source), tlog_entries=n_tlog, media_type=media
        )
    pk = vm.get("publicKey")
    if isinstance(pk, dict):
        hint = pk.get("hint")
        return Bundle(
            env,
            key_hint=hint if isinstance(hint, str) and hint else None,
            tlog_entries=n_tlog,
            media_type=media,
        )
    raise InputError(f"{source}: verificationMaterial holds neither a public key nor certificates")
