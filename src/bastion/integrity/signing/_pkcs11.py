"""ECDSA keys held in a PKCS#11 token (an HSM, SoftHSM2 in tests), named by RFC 7512 URIs.

The private key never leaves the token; the PIN comes from the URI's ``pin-value`` or
``pin-source`` and is never logged or written to evidence (``description`` omits it).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bastion.core.errors import InputError

__all__ = ["DEFAULT_MODULE", "Pkcs11Key", "Pkcs11Uri", "parse_pkcs11_uri"]

DEFAULT_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
_PATH_ATTRS = {
    "token",
    "object",
    "id",
    "manufacturer",
    "serial",
    "model",
    "type",
    "library-description",
    "library-manufacturer",
    "library-version",
    "slot-description",
    "slot-id",
    "slot-manufacturer",
}
_QUERY_ATTRS = {"pin-value", "pin-source", "module-path", "module-name"}


@dataclass(frozen=True)
class Pkcs11Uri:
    token: str | None
    object: str | None
    id: bytes | None
    pin: str | None
    module: str

    @property
    def description(self) -> str:
        parts = [f"token={self.token}"] if self.token else []
        if self.object:
            parts.append(f"object={self.object}")
        if self.id:
            parts.append(f"id={self.id.hex()}")
        return "pkcs11:" + ";".join(parts)


def parse_pkcs11_uri(uri: str) -> Pkcs11Uri:
    """Parse an RFC 7512 URI; unknown attributes are refused rather than ignored."""
    if not uri.startswith("pkcs11:"):
        raise InputError(f"{uri[:40]!r}: a PKCS#11 key URI starts with 'pkcs11:'")
    body = uri[len("pkcs11:") :]
    path, _, query = body.partition("?")
    attrs: dict[str, str] = {}
    for part in filter(None, path.split(";")):
        k, sep, v = part.partition("=")
        if not sep or k not in _PATH_ATTRS:
            raise InputError(f"PKCS#11 URI: unknown or malformed path attribute {k!r}")
        attrs[k] = unquote(v)
    q: dict[str, str] = {}
    for part in filter(None, query.split("&")):
        k, sep, v = part.partition("=")
        if not sep or k not in _QUERY_ATTRS:
            raise InputError(f"PKCS#11 URI: unknown or malformed query attribute {k!r}")
        q[k] = unquote(v)
    pin = q.get("pin-value")
    if "pin-source" in q:
        src = q["pin-source"].removeprefix("file:")
        try:
            pin = Path(src).read_text(encoding="utf-8").strip()
        except OSError:
            raise InputError(f"PKCS#11 URI: pin-source {src} cannot be read") from None
    if not attrs.get("object") and "id" not in attrs:
        raise InputError("PKCS#11 URI: name the key with object=LABEL or id=%XX")
    module = q.get("module-path") or os.environ.get("BASTION_PKCS11_MODULE") or DEFAULT_MODULE
    key_id = attrs["id"].encode("latin-1") if "id" in attrs else None
    return Pkcs11Uri(attrs.get("token"), attrs.get("object"), key_id, pin, module)


class Pkcs11Key:
    """A signing key in a token; each signature opens a short session."""

    def __init__(self, uri: Pkcs11Uri) -> None:
        self.uri = uri
        self._pub: ec.EllipticCurvePublicKey | None = None

    @classmethod
    def open(cls, text: str) -> Pkcs11Key:
        key = cls(parse_pkcs11_uri(text))
        key._pub = key._load_public()
        return key

    @property
    def description(self) -> str:
        return self.uri.description

    def _session(self) -> Any:
        import pkcs11

        if not Path(self.uri.module).exists():
            raise InputError(
                f"PKCS#11 module {self.uri.module} not found (install softhsm2 or set module-path)"
            )
        try:
            lib = pkcs11.lib(self.uri.module)
            token = (
                lib.get_token(token_label=self.uri.token)
                if self.uri.token
                else next(iter(lib.get_slots(token_present=True))).get_token()
            )
            return token.open(user_pin=self.uri.pin) if self.uri.pin is not None else token.open()
        except pkcs11.exceptions.PinIncorrect:
            raise InputError(f"{self.description}: wrong PIN") from None
        except (pkcs11.exceptions.NoSuchToken, StopIteration):
            raise InputError(f"{self.description}: no such token in {self.uri.module}") from None
        except pkcs11.exceptions.PKCS11Error as exc:
            raise InputError(f"{self.description}: token error {type(exc).__name__}") from None

    def _find(self, session: Any, object_class: Any) -> Any:
        import pkcs11
        from pkcs11 import KeyType

        kw: dict[str, Any] = {"object_class": object_class}
        if self.uri.object:
            kw["label"] = self.uri.object
        if self.uri.id:
            kw["id"] = self.uri.id
        try:
            key = session.get_key(**kw)
        except pkcs11.exceptions.NoSuchKey:
            raise InputError(f"{self.description}: no such key in the token") from None
        except pkcs11.exceptions.MultipleObjectsReturned:
            raise InputError(f"{self.description}: several keys match; add id=") from None
        if key.key_type != KeyType.EC:
            raise InputError(
                f"{self.description}: a {key.key_type.name} key; model signatures need ECDSA"
            )
        return key

    def _load_public(self) -> ec.EllipticCurvePublicKey:
        from pkcs11 import ObjectClass
        from pkcs11.util.ec import encode_ec_public_key

        with self._session() as s:
            der = encode_ec_public_key(self._find(s, ObjectClass.PUBLIC_KEY))
        key = serialization.load_der_public_key(der)
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in (
            "secp256r1",
            "secp384r1",
        ):
            raise InputError(f"{self.description}: model signatures need a P-256 or P-384 key")
        return key

    def public_key(self) -> ec.EllipticCurvePublicKey:
        if self._pub is None:
            self._pub = self._load_public()
        return self._pub

    def sign(self, data: bytes) -> bytes:
        from pkcs11 import Mechanism, ObjectClass
        from pkcs11.util.ec import encode_ecdsa_signature

        pub = self.public_key()
        digest = (hashlib.sha256 if pub.curve.key_size == 256 else hashlib.sha384)(data).digest()
        with self._session() as s:
            raw = self._find(s, ObjectClass.PRIVATE_KEY).sign(digest, mechanism=Mechanism.ECDSA)
        return bytes(encode_ecdsa_signature(raw))
