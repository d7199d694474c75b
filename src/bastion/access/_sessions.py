"""Console sessions: a database row per session, and the signed cookie value naming it.

Signing in opens a row (``console_sessions``) and issues an HS256 JWT (token id, session id,
MFA, iat, exp, audience ``bastion-console``) signed with a key of its own, derived from the
workspace secret, so a session value can never be confused with anything else the secret
protects. Every request resolves the value again (:func:`session_principal`): the signature,
the expiry, the session row (signed out or expired ends it) and the token behind it
(revoked or expired ends it), so signing out or revoking a token ends a session at once.
The HTTP side (the cookie's name and attributes, redirects) is the console's.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from sqlalchemy import DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from bastion.access._tokens import Principal, _utc, principal_for_token_id, verify_token_otp
from bastion.core.errors import AuthError
from bastion.core.ledger import Event
from bastion.core.storage import Base
from bastion.core.workspace import Workspace

__all__ = [
    "SESSION_TTL",
    "STEP_UP_AFTER",
    "end_session",
    "issue_session",
    "mfa_is_fresh",
    "open_session",
    "principal_for_session",
    "read_session",
    "session_mfa_at",
    "session_principal",
    "sign_out",
    "step_up_session",
]

#: How long a console session lasts from sign-in.
SESSION_TTL = timedelta(hours=8)
#: How long a TOTP code counts for admin pages and actions; older, they ask for a new one.
STEP_UP_AFTER = timedelta(minutes=15)
_SESSION_LABEL = b"bastion console session v1"
_AUDIENCE = "bastion-console"
_MAX_VALUE = 4096
_ENDED = "session expired: sign in again"


class SessionRow(Base):
    """A console session: the cookie names it; signing out or revoking the token ends it."""

    __tablename__ = "console_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_id: Mapped[str] = mapped_column(String(24), index=True)
    mfa: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


def _session_key(ws: Workspace) -> bytes:
    return hmac.new(ws.keyring.secret(), _SESSION_LABEL, hashlib.sha256).digest()


def issue_session(
    ws: Workspace,
    principal: Principal,
    *,
    now: datetime | None = None,
    ttl: timedelta = SESSION_TTL,
) -> str:
    """Open a session for a principal that has just signed in; returns the signed value the
    console puts in its cookie."""
    now = now or datetime.now(UTC)
    sid = open_session(ws, principal, ttl, now=now)
    claims = {
        "sub": principal.token_id,
        "sid": sid,
        "mfa": principal.mfa_verified,
        "aud": _AUDIENCE,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
    }
    if principal.mfa_verified:
        claims["mfa_at"] = int(now.timestamp())  # when the last code was given
    return jwt.encode(claims, _session_key(ws), algorithm="HS256")


def _claims(ws: Workspace, value: str) -> dict[str, Any]:
    if not value or len(value) > _MAX_VALUE:
        raise AuthError(_ENDED)
    try:
        claims: dict[str, Any] = jwt.decode(
            value,
            _session_key(ws),
            algorithms=["HS256"],
            audience=_AUDIENCE,
            options={"require": ["sub", "sid", "exp", "iat", "aud"]},
        )
    except jwt.PyJWTError:
        raise AuthError(_ENDED) from None
    return claims


def session_mfa_at(ws: Workspace, value: str) -> datetime | None:
    """When the session's holder last gave a TOTP code (sign-in or step-up), from the
    signed value; None when never. AuthError for a value that is not genuine."""
    t = _claims(ws, value).get("mfa_at")
    if isinstance(t, bool) or not isinstance(t, int):
        return None
    return datetime.fromtimestamp(t, UTC)


def mfa_is_fresh(
    ws: Workspace,
    value: str,
    *,
    max_age: timedelta = STEP_UP_AFTER,
    now: datetime | None = None,
) -> bool:
    """Was the last TOTP code of this session given within ``max_age``? Admin pages and
    actions ask for a new code (a step-up) when not."""
    at = session_mfa_at(ws, value)
    now = now or datetime.now(UTC)
    return at is not None and now - at <= max_age and at <= now + timedelta(seconds=60)


def step_up_session(
    ws: Workspace, value: str, otp: str, *, now: datetime | None = None
) -> tuple[Principal, str]:
    """A fresh TOTP code for a live session: checked like a sign-in code (good once,
    lockout after wrong ones, refusals ledgered), the session row marked MFA, an
    ``access.session_step_up`` event, and a new signed value (same session, same expiry,
    ``mfa_at`` now) for the cookie. AuthError when the session is not live or the code is
    refused."""
    now = now or datetime.now(UTC)
    claims = _claims(ws, value)
    token_id, sid = claims["sub"], claims["sid"]
    if not isinstance(token_id, str) or not isinstance(sid, str) or len(sid) > 64:
        raise AuthError(_ENDED)
    principal_for_session(ws, sid, token_id)  # live: not ended, not expired, token valid
    principal = verify_token_otp(ws, token_id, otp, now=now)
    with ws.db.session() as s:
        row = s.get(SessionRow, sid)
        if row is None or row.ended_at is not None:
            raise AuthError(_ENDED)
        row.mfa = True
        s.flush()
        ws.ledger.append(
            [
                Event(
                    "access.session_step_up",
                    {"session": _session_ref(sid), "token_id": token_id},
                    principal.actor,
                )
            ],
            session=s,
        )
    fresh = {**claims, "mfa": True, "mfa_at": int(now.timestamp())}
    return principal, jwt.encode(fresh, _session_key(ws), algorithm="HS256")


def read_session(ws: Workspace, value: str) -> tuple[str, str]:
    """The token id and session id of a genuine, unexpired session value; AuthError when it
    is not (whether the session is still open is :func:`session_principal`'s check)."""
    claims = _claims(ws, value)
    sub, sid = claims.get("sub"), claims.get("sid")
    if not isinstance(sub, str) or not isinstance(sid, str) or len(sid) > 64:
        raise AuthError(_ENDED)
    return sub, sid


def session_principal(ws: Workspace, value: str) -> tuple[Principal, str]:
    """Deny by default: the principal and session id of a genuine session value whose row
    is open and unexpired and whose token is still valid; AuthError otherwise."""
    token_id, sid = read_session(ws, value)
    return principal_for_session(ws, sid, token_id), sid


def sign_out(ws: Workspace, value: str) -> bool:
    """End the session a value names, if it is genuine. True when a live session ended."""
    try:
        token_id, sid = read_session(ws, value)
    except AuthError:
        return False  # not a genuine session: nothing to end
    return end_session(ws, sid, actor=f"token:{token_id}")


def open_session(
    ws: Workspace, principal: Principal, ttl: timedelta, *, now: datetime | None = None
) -> str:
    """Start a console session for a principal that has just signed in; returns its id.

    The id is 256 random bits; the cookie carries it inside a signed value, and every
    request looks the row up, so :func:`end_session` ends the session everywhere at once.
    """
    now = now or datetime.now(UTC)
    sid = secrets.token_urlsafe(32)
    with ws.db.session() as s:
        s.add(
            SessionRow(
                id=sid,
                token_id=principal.token_id,
                mfa=principal.mfa_verified,
                created_at=now,
                expires_at=now + ttl,
            )
        )
        s.flush()
        ws.ledger.append(
            [
                Event(
                    "access.session_opened",
                    {
                        "session": _session_ref(sid),
                        "token_id": principal.token_id,
                        "mfa": principal.mfa_verified,
                    },
                    principal.actor,
                )
            ],
            session=s,
        )
    return sid


def _session_ref(sid: str) -> str:
    # The ledger names a session by a digest of its id: the id itself is a bearer secret.
    return "sha256:" + hashlib.sha256(sid.encode()).hexdigest()[:32]


def principal_for_session(ws: Workspace, session_id: str, token_id: str) -> Principal:
    """The principal of a live console session: not ended, not expired, its token valid."""
    now = datetime.now(UTC)
    with ws.db.session() as s:
        row = s.get(SessionRow, session_id)
        if row is None or row.token_id != token_id or row.ended_at is not None:
            raise AuthError("session expired: sign in again")
        expires = _utc(row.expires_at)
        if expires is None or expires <= now:
            raise AuthError("session expired: sign in again")
        mfa = bool(row.mfa)
    return principal_for_token_id(ws, token_id, mfa_verified=mfa)


def end_session(ws: Workspace, session_id: str, actor: str = "console") -> bool:
    """End a console session (sign-out). True when a live session was ended."""
    with ws.db.session() as s:
        row = s.get(SessionRow, session_id)
        if row is None or row.ended_at is not None:
            return False
        row.ended_at = datetime.now(UTC)
        s.flush()
        ws.ledger.append(
            [
                Event(
                    "access.session_ended",
                    {"session": _session_ref(session_id), "token_id": row.token_id},
                    actor,
                )
            ],
            session=s,
        )
        return True
