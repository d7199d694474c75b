"""The keyring: Bastion's own private keys on disk, mode 0600, never logged."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bastion.core.errors import KeyringError

__all__ = ["Keyring"]

LEDGER_KEY = "ledger-ed25519.pem"
SECRET_KEY = "secret.key"


class Keyring:
    """Keys under ``<home>/keys``. Files readable by anyone but the owner are refused."""

    def __init__(self, key_dir: Path) -> None:
        self.dir = key_dir

    def _check_mode(self, path: Path) -> None:
        try:
            st = path.stat()
        except FileNotFoundError:
            raise KeyringError(f"key {path} not found: run 'bastion init'") from None
        if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyringError(
                f"key {path} is accessible by group or others (mode {st.st_mode & 0o777:o}); "
                "run 'chmod 600' on it"
            )

    def _write_private(self, path: Path, data: bytes) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    def create(self) -> bool:
        """Create missing keys. Never overwrites an existing key; True if anything was made."""
        made = False
        ledger = self.dir / LEDGER_KEY
        if not ledger.exists():
            pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            self._write_private(ledger, pem)
            made = True
        secret = self.dir / SECRET_KEY
        if not secret.exists():
            self._write_private(secret, secrets.token_bytes(32))
            made = True
        return made

    def ledger_private_key(self) -> Ed25519PrivateKey:
        path = self.dir / LEDGER_KEY
        self._check_mode(path)
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError, OSError) as exc:
            raise KeyringError(f"cannot load ledger key {path}: {type(exc).__name__}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyringError(f"ledger key {path} is not an Ed25519 key")
        return key

    def ledger_public_key(self) -> Ed25519PublicKey:
        return self.ledger_private_key().public_key()

    def secret(self) -> bytes:
        """A 32-byte local secret for session cookies and at-rest encryption of small secrets."""
        path = self.dir / SECRET_KEY
        self._check_mode(path)
        data = path.read_bytes()
        if len(data) != 32:
            raise KeyringError(f"secret key {path} is damaged (expected 32 bytes)")
        return data
