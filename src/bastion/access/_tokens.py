"""API tokens, roles and TOTP for access to Bastion itself.

A token is ``bst_<id>_<secret>``: the id finds the row, the secret is checked against its
SHA-256 in constant time (the secret is 256 random bits, so a slow hash buys nothing).
Tokens are shown once and stored hashed. Admin and approver tokens get a TOTP secret,
stored encrypted (AES-GCM under the workspace secret key); their privileged actions need a
current code. Each code is good once: the token's row remembers the last time step used
and refuses that step or an earlier one (a replay). Wrong codes are ledgered (never the code)
and counted; from the fifth in a row the token refuses every code, right or wrong, for a
window that doubles with each further failure. The state lives in the database, so it holds
across processes and replicas.

Console sessions (rows, and the signed cookie that names one) are ``_sessions``.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import BigInteger, DateTime, Integer, LargeBinary, String, select, update
from sqlalchemy.orm import Mapped, mapped_column

from bastion.core.errors import AuthError, InputError, NotFoundError, PermissionDeniedError
from bastion.core.ledger import Event
from bastion.core.storage import Base
from bastion.core.workspace import Workspace

__all__ = [
    "MFA_LOCKOUT_AFTER",
    "Principal",
    "Role",
    "TokenInfo",
    "authenticate",
    "create_token",
    "list_tokens",
    "principal_for_token_id",
    "require",
    "revoke_token",
    "verify_token_otp",
    "verify_totp",
]

#: Wrong TOTP codes in a row after which a token refuses every code for a while.
MFA_LOCKOUT_AFTER = 5
#: The first lockout; each further failure doubles it, up to the maximum.
MFA_LOCKOUT_BASE = timedelta(seconds=30)
MFA_LOCKOUT_MAX = timedelta(hours=1)
_STEP = 30


class Role(enum.StrEnum):
    VIEWER = "viewer"
    ENGINEER = "engineer"
    SECURITY = "security"
    COMPLIANCE = "compliance"
    APPROVER = "approver"
    ADMIN = "admin"

    @property
    def needs_mfa(self) -> bool:
        return self in (Role.ADMIN, Role.APPROVER)


class Permission(enum.StrEnum):
    READ = "read"
    WRITE = "write"  # record evidence, import inventory, run checks
    APPROVE = "approve"  # security sign-off, promotions
    ADMIN = "admin"  # tokens, settings


_GRANTS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.READ}),
    Role.ENGINEER: frozenset({Permission.READ, Permission.WRITE}),
    Role.SECURITY: frozenset({Permission.READ, Permission.WRITE}),
    Role.COMPLIANCE: frozenset({Permission.READ, Permission.WRITE}),
    Role.APPROVER: frozenset({Permission.READ, Permission.APPROVE}),
    Role.ADMIN: frozenset(Permission),
}
# Actions that need a fresh TOTP code, whatever the role.
_MFA_PERMISSIONS = frozenset({Permission.APPROVE, Permission.ADMIN})

_TOKEN = re.compile(r"^bst_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$")
_NAME = re.compile(r"^[A-Za-z0-9 ._@-]{1,100}$")


class TokenRow(Base):
    __tablename__ = "api_tokens"
    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    secret_hash: Mapped[str] = mapped_column(String(64))
    totp_secret: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # TOTP state (migration 0005_access_hardening): replay and brute-force defences.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    totp_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    totp_locked_until: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )


@dataclass(frozen=True)
class TokenInfo:
    id: str
    name: str
    role: Role
    created_at: datetime
    expires_at: datetime | None
    revoked: bool
    has_mfa: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role.value,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "revoked": self.revoked,
            "mfa": self.has_mfa,
        }


@dataclass(frozen=True)
class NewToken:
    """Returned once at creation: the only time the secret and the TOTP seed are visible."""

    info: TokenInfo
    token: str
    totp_secret: str | None

    @property
    def totp_uri(self) -> str | None:
        if self.totp_secret is None:
            return None
        return pyotp.TOTP(self.totp_secret).provisioning_uri(
            name=self.info.name, issuer_name="Bastion"
        )


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    token_id: str
    name: str
    role: Role
    mfa_verified: bool = False

    @property
    def actor(self) -> str:
        return f"token:{self.token_id}:{self.name}"

    def can(self, perm: Permission) -> bool:
        return perm in _GRANTS[self.role]


def _utc(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts


def _info(r: TokenRow) -> TokenInfo:
    created = _utc(r.created_at)
    assert created is not None
    return TokenInfo(
        r.id,
        r.name,
        Role(r.role),
        created,
        _utc(r.expires_at),
        r.revoked_at is not None,
        r.totp_secret is not None,
    )


def _aead(ws: Workspace) -> AESGCM:
    key = hmac.new(ws.keyring.secret(), b"bastion totp at-rest v1", hashlib.sha256).digest()
    return AESGCM(key)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(
    ws: Workspace, *, name: str, role: Role | str, ttl: timedelta | None = None, actor: str = "cli"
) -> NewToken:
    try:
        role = Role(role)
    except ValueError:
        raise InputError(
            f"unknown role {role!r} (expected one of: {', '.join(r.value for r in Role)})"
        ) from None
    if not _NAME.match(name):
        raise InputError("token name must be 1-100 letters, digits, spaces or ._@-")
    if ttl is not None and ttl <= timedelta(0):
        raise InputError("token lifetime must be positive")
    tid = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(12))
    secret = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    totp = pyotp.random_base32() if role.needs_mfa else None
    enc = None
    if totp is not None:
        nonce = os.urandom(12)
        enc = nonce + _aead(ws).encrypt(nonce, totp.encode(), tid.encode())
    row = TokenRow(
        id=tid,
        name=name,
        role=role.value,
        secret_hash=_hash(secret),
        totp_secret=enc,
        created_by=actor,
        created_at=now,
        expires_at=now + ttl if ttl else None,
    )
    with ws.db.session() as s:
        s.add(row)
        s.flush()
        ws.ledger.append(
            [
                Event(
                    "access.token_created",
                    {
                        "token_id": tid,
                        "name": name,
                        "role": role.value,
                        "expires_at": row.expires_at.isoformat() if row.expires_at else None,
                    },
                    actor,
                )
            ],
            session=s,
        )
    return NewToken(_info(row), f"bst_{tid}_{secret}", totp)


def list_tokens(ws: Workspace) -> list[TokenInfo]:
    with ws.db.session() as s:
        return [_info(r) for r in s.scalars(select(TokenRow).order_by(TokenRow.created_at))]


def revoke_token(ws: Workspace, token_id: str, actor: str = "cli") -> TokenInfo:
    with ws.db.session() as s:
        row = s.get(TokenRow, token_id)
        if row is None:
            raise NotFoundError(f"token {token_id} not found")
        if row.revoked_at is None:
            row.revoked_at = datetime.now(UTC)
            ws.ledger.append(
                [Event("access.token_revoked", {"token_id": token_id}, actor)], session=s
            )
        s.flush()
        return _info(row)


def _totp_secret(ws: Workspace, row: TokenRow) -> str | None:
    if row.totp_secret is None:
        return None
    blob = row.totp_secret
    return _aead(ws).decrypt(blob[:12], blob[12:], row.id.encode()).decode()


def authenticate(
    ws: Workspace, token: str | None, otp: str | None = None, *, now: datetime | None = None
) -> Principal:
    """Resolve a bearer token to a principal; one generic message for every failure.

    With ``otp``, the code must be right, newer than the last code this token used, and the
    token must not be locked out; a refusal is ledgered and committed before it is raised.
    """
    if not token:
        raise AuthError("authentication required: send 'Authorization: Bearer <token>'")
    m = _TOKEN.match(token.strip())
    if m is None:
        raise AuthError("invalid or expired token")
    tid, secret = m.groups()
    now = now or datetime.now(UTC)
    refusal: str | None = None
    with ws.db.session() as s:
        if otp is not None:
            # First statement a write: the row lock that serialises concurrent codes of one
            # token, so two requests cannot both spend the same code.
            s.execute(
                update(TokenRow)
                .where(TokenRow.id == tid)
                .values(totp_failures=TokenRow.totp_failures)
            )
        row = s.get(TokenRow, tid, populate_existing=True)
        if row is None or not hmac.compare_digest(row.secret_hash, _hash(secret)):
            raise AuthError("invalid or expired token")
        expires = _utc(row.expires_at)
        if row.revoked_at is not None or (expires is not None and expires <= now):
            raise AuthError("invalid or expired token")
        mfa = False
        if otp is not None:
            refusal = _check_totp(ws, s, row, otp, now)
            mfa = refusal is None
        if refusal is None:
            row.last_used_at = now
            principal = Principal(row.id, row.name, Role(row.role), mfa_verified=mfa)
    if refusal is not None:
        # Outside the transaction, which has committed the failure and its ledger event.
        raise AuthError(refusal)
    return principal


def verify_token_otp(
    ws: Workspace, token_id: str, otp: str, *, now: datetime | None = None
) -> Principal:
    """A fresh TOTP code for a token named by id (a console session's step-up, where the
    secret was shown at sign-in only): the same replay, lockout and ledgering as
    :func:`authenticate`; AuthError on any refusal, the principal with MFA otherwise."""
    now = now or datetime.now(UTC)
    refusal: str | None = None
    with ws.db.session() as s:
        s.execute(  # the row lock that serialises concurrent codes of one token
            update(TokenRow)
            .where(TokenRow.id == token_id)
            .values(totp_failures=TokenRow.totp_failures)
        )
        row = s.get(TokenRow, token_id, populate_existing=True)
        expires = _utc(row.expires_at) if row is not None else None
        if row is None or row.revoked_at is not None or (expires is not None and expires <= now):
            raise AuthError("session expired: sign in again")
        refusal = _check_totp(ws, s, row, otp, now)
        if refusal is None:
            row.last_used_at = now
            principal = Principal(row.id, row.name, Role(row.role), mfa_verified=True)
    if refusal is not None:
        raise AuthError(refusal)
    return principal


def _check_totp(ws: Workspace, s: Any, row: TokenRow, otp: str, now: datetime) -> str | None:
    """None when ``otp`` is a fresh, right code; else the message to refuse with (the
    failure counted and ledgered in ``s``)."""
    locked = _utc(row.totp_locked_until)
    if locked is not None and locked > now:
        _mfa_failed(ws, s, row, "locked_out", now, count=False)
        return (
            "invalid one-time code: too many wrong codes, this token refuses codes until "
            f"{locked.isoformat(timespec='seconds')}"
        )
    seed = _totp_secret(ws, row)
    step = _matching_step(seed, otp, now) if seed is not None else None
    if seed is None:
        return "invalid one-time code"
    if step is None:
        _mfa_failed(ws, s, row, "wrong_code", now, count=True)
        return "invalid one-time code"
    if row.totp_last_step is not None and step <= row.totp_last_step:
        _mfa_failed(ws, s, row, "replayed_code", now, count=True)
        return "invalid one-time code: this code (or a newer one) was already used"
    row.totp_last_step = step
    row.totp_failures = 0
    row.totp_locked_until = None
    return None


def _mfa_failed(
    ws: Workspace, s: Any, row: TokenRow, reason: str, now: datetime, *, count: bool
) -> None:
    if count:
        row.totp_failures = (row.totp_failures or 0) + 1
        over = row.totp_failures - MFA_LOCKOUT_AFTER
        if over >= 0:
            window = min(MFA_LOCKOUT_BASE * (2 ** min(over, 20)), MFA_LOCKOUT_MAX)
            row.totp_locked_until = now + window
    s.flush()
    locked = _utc(row.totp_locked_until)
    ws.ledger.append(
        [
            Event(
                "access.mfa_failed",
                {
                    "token_id": row.id,
                    "reason": reason,
                    "failures": row.totp_failures,
                    "locked_until": locked.isoformat() if locked and locked > now else None,
                },
                f"token:{row.id}:{row.name}",
            )
        ],
        session=s,
    )


def _matching_step(seed: str, code: str, now: datetime) -> int | None:
    """The time step (of now-1, now, now+1) whose code ``code`` is, compared in constant time."""
    code = code.strip()
    if not re.fullmatch(r"\d{6}", code):
        return None
    totp = pyotp.TOTP(seed, interval=_STEP)
    current = int(now.timestamp()) // _STEP
    found = None
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.at(step * _STEP), code):
            found = step
    return found


def verify_totp(seed: str, code: str) -> bool:
    """Is ``code`` a current code of ``seed``? Stateless: :func:`authenticate` adds the
    replay and lockout checks, and is what every privileged path uses."""
    return _matching_step(seed, code, datetime.now(UTC)) is not None


def require(principal: Principal, perm: Permission) -> None:
    """Authorise or raise. Deny by default: only granted permissions pass."""
    if not principal.can(perm):
        raise PermissionDeniedError(f"role {principal.role.value} may not {perm.value}")
    if perm in _MFA_PERMISSIONS and not principal.mfa_verified:
        raise PermissionDeniedError(
            f"{perm.value} actions need multi-factor authentication: send a current TOTP code "
            "in the X-Bastion-OTP header"
        )


def principal_for_token_id(
    ws: Workspace, token_id: str, *, mfa_verified: bool = False
) -> Principal:
    """Re-check a token named by a console session: revocation and expiry apply at once."""
    now = datetime.now(UTC)
    with ws.db.session() as s:
        row = s.get(TokenRow, token_id)
        if row is None or row.revoked_at is not None:
            raise AuthError("session expired: sign in again")
        expires = _utc(row.expires_at)
        if expires is not None and expires <= now:
            raise AuthError("session expired: sign in again")
        return Principal(row.id, row.name, Role(row.role), mfa_verified=mfa_verified)
