"""The token vault: deterministic, reversible tokens for identifiers.

A token is ``tok_`` + 26 base32 characters of HMAC-SHA256(namespace key, value): the same
value always gets the same token in a namespace (joins and foreign keys survive across
tables), nobody without the key can compute or invert it, and the vault row keeps the
value encrypted (AES-256-GCM, bound to its namespace) for authorised detokenization.

Detokenization is the sensitive direction: every call is appended to the ledger (who,
why, which namespace, how many tokens, a digest of the token set; never a value) before
anything is returned. The CLI (the local operator) and the API (``admin``, with MFA) are
its only callers. Rotating a namespace's key re-tokenizes every row (the old token is kept
as ``previous_token`` so data tokenized before can be re-tokenized).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import DateTime, Integer, LargeBinary, String, UniqueConstraint, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from bastion.core.errors import InputError, KeyringError
from bastion.core.ledger import Event
from bastion.core.storage import Base
from bastion.privacy.deid._keys import KeyProvider, key_provider

if TYPE_CHECKING:
    from bastion.core.workspace import Workspace

__all__ = ["DetokenizeResult", "RotationResult", "TokenVault", "VaultRow"]

_NS = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")
_TOKEN = re.compile(r"^tok_[a-z2-7]{26}$")
MAX_VALUE_CHARS = 4096
MAX_BATCH = 100_000
_CHUNK = 500
ENC_KEY = "vault-enc"


class VaultRow(Base):
    __tablename__ = "privacy_token_vault"
    __table_args__ = (UniqueConstraint("namespace", "token", name="uq_privacy_vault_token"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    namespace: Mapped[str] = mapped_column(String(64))
    token: Mapped[str] = mapped_column(String(80))
    previous_token: Mapped[str | None] = mapped_column(String(80), nullable=True)
    key_version: Mapped[int] = mapped_column(Integer)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class DetokenizeResult:
    values: dict[str, str]
    missing: tuple[str, ...]
    ledger_seq: int


@dataclass(frozen=True)
class RotationResult:
    namespace: str
    from_version: int
    to_version: int
    retokenized: int
    ledger_seq: int


def check_namespace(ns: str) -> str:
    if not isinstance(ns, str) or not _NS.match(ns):
        raise InputError(
            f"namespace {str(ns)[:80]!r}: expected 1-48 of a-z, 0-9, '_', '-' (starting "
            "with a letter or digit)"
        )
    return ns


def _token(key: bytes, ns: str, value: str) -> str:
    mac = hmac.digest(key, ns.encode() + b"\x00" + value.encode(), "sha256")
    return "tok_" + base64.b32encode(mac[:17]).decode().lower()[:26]


class TokenVault:
    """Tokens of a workspace (``keys``: where the namespace keys come from)."""

    def __init__(self, ws: Workspace, keys: KeyProvider | None = None) -> None:
        self.ws = ws
        self.keys: KeyProvider = keys or key_provider(ws)
        self._enc: AESGCM | None = None

    def _aead(self) -> AESGCM:
        if self._enc is None:
            self._enc = AESGCM(self.keys.key(ENC_KEY)[1])
        return self._enc

    def _ns_key(self, ns: str, version: int | None = None) -> tuple[int, bytes]:
        return self.keys.key(f"vault-{ns}", version)

    def _seal(self, ns: str, value: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead().encrypt(
            nonce, value.encode(), b"bastion.vault\x00" + ns.encode()
        )

    def _open(self, ns: str, blob: bytes) -> str:
        try:
            return (
                self._aead()
                .decrypt(blob[:12], blob[12:], b"bastion.vault\x00" + ns.encode())
                .decode()
            )
        except InvalidTag:
            raise KeyringError(
                f"vault namespace {ns}: a stored value does not decrypt (wrong key or damage)"
            ) from None

    def token_function(self, namespace: str) -> tuple[int, bytes]:
        """The current key version and key of ``namespace`` (for a batch of tokenizations)."""
        return self._ns_key(check_namespace(namespace))

    def tokenize(self, values: Sequence[str], namespace: str) -> list[str]:
        """Tokens of ``values`` (stored in the vault where new), in order."""
        ns = check_namespace(namespace)
        if len(values) > MAX_BATCH:
            raise InputError(f"values: at most {MAX_BATCH} per call")
        version, key = self._ns_key(ns)
        tokens: list[str] = []
        new: dict[str, str] = {}
        for v in values:
            if not isinstance(v, str) or len(v) > MAX_VALUE_CHARS:
                raise InputError(
                    f"values: expected strings of at most {MAX_VALUE_CHARS} characters"
                )
            t = _token(key, ns, v)
            tokens.append(t)
            new.setdefault(t, v)
        self._store(ns, version, new)
        return tokens

    def _store(self, ns: str, version: int, new: dict[str, str]) -> None:
        if not new:
            return
        now = datetime.now(UTC)
        items = list(new.items())
        with self.ws.db.session() as s:
            dialect = s.get_bind().dialect.name
            for i in range(0, len(items), _CHUNK):
                chunk = items[i : i + _CHUNK]
                have = set(
                    s.scalars(
                        select(VaultRow.token).where(
                            VaultRow.namespace == ns, VaultRow.token.in_([t for t, _ in chunk])
                        )
                    )
                )
                rows: list[dict[str, Any]] = [
                    {
                        "namespace": ns,
                        "token": t,
                        "previous_token": None,
                        "key_version": version,
                        "ciphertext": self._seal(ns, v),
                        "created_at": now,
                    }
                    for t, v in chunk
                    if t not in have
                ]
                if not rows:
                    continue
                ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(VaultRow)
                s.execute(ins.on_conflict_do_nothing(index_elements=["namespace", "token"]), rows)

    def detokenize(
        self, tokens: Sequence[str], namespace: str, *, actor: str, reason: str
    ) -> DetokenizeResult:
        """The values of ``tokens``; audited in the ledger before anything is returned."""
        ns = check_namespace(namespace)
        if not isinstance(reason, str) or not 3 <= len(reason.strip()) <= 500:
            raise InputError("reason: say why in 3-500 characters (it is recorded in the ledger)")
        if not tokens or len(tokens) > 10_000:
            raise InputError("tokens: expected 1-10000 tokens")
        bad = [t for t in tokens if not isinstance(t, str) or not _TOKEN.match(t)]
        if bad:
            raise InputError(f"tokens: {len(bad)} value(s) are not vault tokens (tok_ + 26 base32)")
        wanted = sorted(set(tokens))
        digest = "sha256:" + hashlib.sha256("\n".join(wanted).encode()).hexdigest()
        found: dict[str, bytes] = {}
        with self.ws.db.session() as s:
            for i in range(0, len(wanted), _CHUNK):
                chunk = wanted[i : i + _CHUNK]
                for row in s.execute(
                    select(VaultRow.token, VaultRow.ciphertext).where(
                        VaultRow.namespace == ns, VaultRow.token.in_(chunk)
                    )
                ):
                    found[row[0]] = row[1]
        missing = tuple(t for t in wanted if t not in found)
        (entry,) = self.ws.ledger.append(
            [
                Event(
                    "privacy.detokenize",
                    {
                        "namespace": ns,
                        "requested": len(wanted),
                        "returned": len(found),
                        "tokens_digest": digest,
                        "reason": reason.strip(),
                    },
                    actor,
                )
            ]
        )
        values = {t: self._open(ns, blob) for t, blob in found.items()}
        return DetokenizeResult(values, missing, entry.seq)

    def rotate(self, namespace: str, *, actor: str) -> RotationResult:
        """A new key version for ``namespace`` and every token re-computed under it."""
        ns = check_namespace(namespace)
        old_version, _ = self._ns_key(ns)
        new_version = self.keys.rotate(f"vault-{ns}")
        _, key = self._ns_key(ns, new_version)
        count = 0
        with self.ws.db.session() as s:
            rows = s.execute(
                select(VaultRow.id, VaultRow.token, VaultRow.ciphertext).where(
                    VaultRow.namespace == ns
                )
            ).all()
            for rid, token, blob in rows:
                s.execute(
                    update(VaultRow)
                    .where(VaultRow.id == rid)
                    .values(
                        token=_token(key, ns, self._open(ns, blob)),
                        previous_token=token,
                        key_version=new_version,
                    )
                )
                count += 1
        (entry,) = self.ws.ledger.append(
            [
                Event(
                    "privacy.vault.rotated",
                    {"namespace": ns, "from_version": old_version, "to_version": new_version,
                     "retokenized": count},
                    actor,
                )
            ]
        )  # fmt: skip
        return RotationResult(ns, old_version, new_version, count, entry.seq)

    def retokenize(self, tokens: Iterable[str], namespace: str) -> dict[str, str]:
        """Map tokens issued before the last rotation to the current ones (unknown: left out)."""
        ns = check_namespace(namespace)
        wanted = sorted({t for t in tokens if isinstance(t, str) and _TOKEN.match(t)})
        out: dict[str, str] = {}
        with self.ws.db.session() as s:
            for i in range(0, len(wanted), _CHUNK):
                chunk = wanted[i : i + _CHUNK]
                rows = s.execute(
                    select(VaultRow.previous_token, VaultRow.token).where(
                        VaultRow.namespace == ns, VaultRow.previous_token.in_(chunk)
                    )
                )
                out.update({prev: cur for prev, cur in rows if prev is not None})
        return out

    def count(self, namespace: str) -> int:
        ns = check_namespace(namespace)
        with self.ws.db.session() as s:
            return len(s.scalars(select(VaultRow.id).where(VaultRow.namespace == ns)).all())
