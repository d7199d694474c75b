"""The token-signing keys: Ed25519, kept in the workspace keyring like the ledger's key.

Files live under ``<home>/keys/identity/`` (directory 0700, private keys 0600, refused if
anyone but the owner can read them). ``keys.json`` names the active key and every retired
one. The ``kid`` is the key's RFC 7638 JWK thumbprint. Rotation makes a new active key,
deletes the old private key and keeps its public key for verification until every token it
signed has expired (rotation time + the maximum token lifetime + leeway); the JWKS lists the
active key and those still inside their window.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bastion.core.errors import KeyringError

__all__ = ["SigningKeys", "jwk_thumbprint"]

_STATE = "keys.json"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _raw(pub: Ed25519PublicKey) -> bytes:
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def jwk_thumbprint(pub: Ed25519PublicKey) -> str:
    """RFC 7638 thumbprint (SHA-256) of an Ed25519 public key's JWK."""
    canon = json.dumps(
        {"crv": "Ed25519", "kty": "OKP", "x": _b64(_raw(pub))}, separators=(",", ":")
    )
    return _b64(hashlib.sha256(canon.encode()).digest())


@dataclass(frozen=True)
class _Entry:
    kid: str
    created_at: datetime
    retired_at: datetime | None
    verify_until: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "kid": self.kid,
            "created_at": self.created_at.isoformat(),
            "retired_at": self.retired_at.isoformat() if self.retired_at else None,
            "verify_until": self.verify_until.isoformat() if self.verify_until else None,
        }

    @classmethod
    def of(cls, d: dict[str, Any]) -> _Entry:
        def ts(v: object) -> datetime | None:
            return datetime.fromisoformat(v) if isinstance(v, str) else None

        created = ts(d.get("created_at"))
        if not isinstance(d.get("kid"), str) or created is None:
            raise KeyringError("identity keys.json is damaged")
        return cls(str(d["kid"]), created, ts(d.get("retired_at")), ts(d.get("verify_until")))


class SigningKeys:
    """The Ed25519 keys Bastion signs its tokens with."""

    def __init__(self, key_dir: Path) -> None:
        self.dir = key_dir / "identity"

    # -- files -----------------------------------------------------------------------------
    def _write(self, path: Path, data: bytes, mode: int) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        tmp = path.with_name(path.name + ".tmp")
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def _check_mode(self, path: Path) -> None:
        st = path.stat()
        if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyringError(
                f"key {path} is accessible by group or others (mode {st.st_mode & 0o777:o}); "
                "run 'chmod 600' on it"
            )

    def _entries(self) -> list[_Entry]:
        path = self.dir / _STATE
        try:
            raw = json.loads(path.read_bytes())
        except FileNotFoundError:
            return []
        except (ValueError, OSError):
            raise KeyringError(f"{path} is damaged") from None
        if not isinstance(raw, dict) or not isinstance(raw.get("keys"), list):
            raise KeyringError(f"{path} is damaged")
        return [_Entry.of(k) for k in raw["keys"] if isinstance(k, dict)]

    def _save(self, entries: list[_Entry]) -> None:
        body = json.dumps({"keys": [e.to_json() for e in entries]}, indent=2).encode()
        self._write(self.dir / _STATE, body, 0o600)

    def _new_key(self, now: datetime) -> _Entry:
        key = Ed25519PrivateKey.generate()
        kid = jwk_thumbprint(key.public_key())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        self._write(self.dir / f"{kid}.key.pem", pem, 0o600)
        pub = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self._write(self.dir / f"{kid}.pub.pem", pub, 0o600)
        return _Entry(kid, now, None, None)

    # -- API -------------------------------------------------------------------------------
    def active(self) -> tuple[str, Ed25519PrivateKey]:
        """The active key (made on first use): its kid and private key."""
        entries = self._entries()
        live = [e for e in entries if e.retired_at is None]
        if not live:
            entries.append(self._new_key(datetime.now(UTC)))
            self._save(entries)
            live = entries[-1:]
        kid = live[-1].kid
        path = self.dir / f"{kid}.key.pem"
        try:
            self._check_mode(path)
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except FileNotFoundError:
            raise KeyringError(f"token signing key {path} is missing") from None
        except (ValueError, TypeError):
            raise KeyringError(f"cannot load token signing key {path}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyringError(f"token signing key {path} is not an Ed25519 key")
        return kid, key

    def rotate(self, *, keep_for: timedelta, now: datetime | None = None) -> tuple[str, str | None]:
        """Make a new active key; the old one verifies for ``keep_for`` more. Returns
        ``(new kid, old kid)``."""
        now = now or datetime.now(UTC)
        entries = self._entries()
        old: str | None = None
        out: list[_Entry] = []
        for e in entries:
            if e.retired_at is None:
                old = e.kid
                e = _Entry(e.kid, e.created_at, now, now + keep_for)
                (self.dir / f"{e.kid}.key.pem").unlink(missing_ok=True)
            out.append(e)
        new = self._new_key(now)
        out.append(new)
        # forget keys whose window has passed
        kept = [e for e in out if e.verify_until is None or e.verify_until > now]
        for e in out:
            if e not in kept:
                (self.dir / f"{e.kid}.pub.pem").unlink(missing_ok=True)
        self._save(kept)
        return new.kid, old

    def public_keys(self, now: datetime | None = None) -> dict[str, Ed25519PublicKey]:
        """kid -> public key, for every key that may still verify a token."""
        now = now or datetime.now(UTC)
        if not any(e.retired_at is None for e in self._entries()):
            self.active()
        out: dict[str, Ed25519PublicKey] = {}
        for e in self._entries():
            if e.verify_until is not None and e.verify_until <= now:
                continue
            path = self.dir / f"{e.kid}.pub.pem"
            try:
                pub = serialization.load_pem_public_key(path.read_bytes())
            except (FileNotFoundError, ValueError):
                raise KeyringError(f"token verification key {path} is missing or damaged") from None
            if not isinstance(pub, Ed25519PublicKey) or jwk_thumbprint(pub) != e.kid:
                raise KeyringError(f"token verification key {path} does not match its kid")
            out[e.kid] = pub
        return out

    def jwks(self, now: datetime | None = None) -> dict[str, Any]:
        """The RFC 7517 JWK Set of the public keys that may verify a token."""
        return {
            "keys": [
                {
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": _b64(_raw(pub)),
                    "kid": kid,
                    "use": "sig",
                    "alg": "EdDSA",
                }
                for kid, pub in self.public_keys(now).items()
            ]
        }
