"""Keys for de-identification: versioned 256-bit keys on disk beside the keyring.

A :class:`KeyProvider` hands out the current version of a named key (created on first use)
or a given older version, and rotates a key to a new version. The default provider keeps
each version in its own file under ``<home>/keys/deid/`` at mode 0600 (directory 0700),
refusing files others can read, exactly as the workspace keyring does; key bytes are
never logged, put in evidence or echoed in errors.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from bastion.core.errors import InputError, KeyringError

if TYPE_CHECKING:
    from bastion.core.workspace import Workspace

__all__ = ["KeyProvider", "KeyringKeyProvider", "key_provider"]

KEY_BYTES = 32
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_FILE = re.compile(r"^([a-z0-9][a-z0-9_.-]{0,63})\.v(\d{1,6})\.key$")


class KeyProvider(Protocol):
    """Where de-identification keys come from (files, an HSM, a cloud KMS)."""

    def key(self, name: str, version: int | None = None) -> tuple[int, bytes]:
        """``(version, key bytes)``: the current version (made on first use) or ``version``."""
        ...

    def rotate(self, name: str) -> int:
        """Make a new current version of ``name``; returns it."""
        ...


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InputError(f"key name {str(name)[:80]!r}: expected 1-64 of a-z, 0-9, '.', '_', '-'")
    return name


class KeyringKeyProvider:
    """Versioned key files under ``directory`` (``NAME.vN.key``, 32 random bytes)."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory

    def _versions(self, name: str) -> list[int]:
        if not self.dir.is_dir():
            return []
        out = []
        for p in self.dir.iterdir():
            m = _FILE.match(p.name)
            if m and m[1] == name:
                out.append(int(m[2]))
        return sorted(out)

    def _read(self, name: str, version: int) -> bytes:
        path = self.dir / f"{name}.v{version}.key"
        try:
            st = path.stat()
        except FileNotFoundError:
            raise KeyringError(
                f"de-identification key {name} version {version} not found"
            ) from None
        if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyringError(
                f"key {path} is accessible by group or others (mode {st.st_mode & 0o777:o}); "
                "run 'chmod 600' on it"
            )
        data = path.read_bytes()
        if len(data) != KEY_BYTES:
            raise KeyringError(f"key {path} is damaged (expected {KEY_BYTES} bytes)")
        return data

    def _write(self, name: str, version: int) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        path = self.dir / f"{name}.v{version}.key"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return  # another process made this version first: use theirs
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(KEY_BYTES))
            f.flush()
            os.fsync(f.fileno())

    def key(self, name: str, version: int | None = None) -> tuple[int, bytes]:
        _check_name(name)
        if version is not None:
            return version, self._read(name, version)
        versions = self._versions(name)
        if not versions:
            self._write(name, 1)
            versions = self._versions(name)
        current = versions[-1]
        return current, self._read(name, current)

    def rotate(self, name: str) -> int:
        _check_name(name)
        versions = self._versions(name)
        new = (versions[-1] if versions else 0) + 1
        self._write(name, new)
        return new


def key_provider(ws: Workspace) -> KeyringKeyProvider:
    """The workspace's de-identification keys (``<home>/keys/deid``)."""
    return KeyringKeyProvider(ws.keyring.dir / "deid")
